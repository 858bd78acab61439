"""The image-fetch address guard judges an IPv6 address that carries an IPv4 address by that IPv4 address (issue 21,
item 9), and refuses what Python 3.11's ``is_global`` wrongly calls global: every range of IANA's special-purpose
registries that is not globally reachable, as literals, in a redirect from a real loopback server, through the
server's count route, and as a resolver's answer for a host name."""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from support.serverkit import running_server
from tokcount.errors import MediaError
from tokcount.media import sources
from tokcount.media.addresses import isatap_ipv4, translated_ipv4
from tokcount.media.sources import CACHE, FAILURES, FetchPolicy, image_size, resolve_address
from tokcount.settings import Settings

#: IANA's IPv4 and IPv6 special-purpose address registries, every block not "globally reachable", plus the
#: multicast ranges and the deprecated ones (6to4 relay anycast, site-local); IPv4-mapped ``::ffff:0:0/96`` is
#: judged by the IPv4 address it carries instead (:func:`carriers`)
NOT_GLOBAL = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.0.0.0/29", "192.0.0.8/32", "192.0.0.170/31", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
    "::1/128", "::/128", "64:ff9b:1::/48", "100::/64", "100:0:0:1::/64", "2001::/23",
    "2001:2::/48", "2001:db8::/32", "2001:10::/28", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10",
    "fec0::/10", "ff00::/8",
]

#: IPv4 addresses an attacker would aim at, and how each IPv6 form carries one
def allowed(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """The guard as the fetch code asks it (no allow-list)."""
    return sources._allowed(addr, FetchPolicy())


TARGETS = ["127.0.0.1", "10.0.0.5", "169.254.169.254", "192.168.1.1", "100.64.0.1", "0.0.0.0"]


def carriers(v4: str) -> dict[str, str]:
    n = int(ipaddress.IPv4Address(v4))
    return {
        "mapped": str(ipaddress.IPv6Address((0xFFFF << 32) | n)),
        "translated": str(ipaddress.IPv6Address((0xFFFF << 48) | n)),
        "nat64": str(ipaddress.IPv6Address((0x64FF9B << 96) | n)),
        "nat64-local": str(ipaddress.IPv6Address((0x64FF9B0001 << 80) | (n << 16))),
        "compatible": str(ipaddress.IPv6Address(n)),
        "6to4": str(ipaddress.IPv6Address((0x2002 << 112) | (n << 80) | 1)),
        "isatap": str(ipaddress.IPv6Address((0x2606_4700_0001_0002 << 64) | (0x5EFE << 32) | n)),
        "isatap-u": str(ipaddress.IPv6Address((0x2606_4700_0001_0002 << 64) | (0x02005EFE << 32) | n)),
        "teredo": str(ipaddress.IPv6Address((0x20010000 << 96) | (n << 64) | (0xFFFF << 32) | (n ^ 0xFFFFFFFF))),
    }


def samples(cidr: str) -> list[str]:
    net = ipaddress.ip_network(cidr)
    picks = {net.network_address, net.broadcast_address, net.network_address + net.num_addresses // 2}
    if net.num_addresses > 2:
        picks.add(net.network_address + 1)
    return sorted(str(a) for a in picks)


@pytest.mark.parametrize("cidr", NOT_GLOBAL)
def test_every_non_global_range_is_refused(cidr: str) -> None:
    for addr in samples(cidr):
        assert not allowed(ipaddress.ip_address(addr)), addr


@pytest.mark.parametrize("v4", TARGETS)
def test_ipv6_forms_of_an_internal_address_are_refused(v4: str) -> None:
    for form, addr in carriers(v4).items():
        assert not allowed(ipaddress.ip_address(addr)), (form, addr)


def test_ipv6_forms_of_a_public_address_are_judged_by_it() -> None:
    forms = carriers("8.8.8.8")
    for form in ("mapped", "translated", "nat64", "6to4", "isatap", "isatap-u"):
        assert allowed(ipaddress.ip_address(forms[form])), (form, forms[form])
    for form in ("nat64-local", "compatible", "teredo"):  # refused whatever they carry
        assert not allowed(ipaddress.ip_address(forms[form])), (form, forms[form])
    assert translated_ipv4(ipaddress.IPv6Address(forms["6to4"])) == ipaddress.IPv4Address("8.8.8.8")
    assert isatap_ipv4(ipaddress.IPv6Address(forms["isatap"])) == ipaddress.IPv4Address("8.8.8.8")
    # an ISATAP id behind a non-public prefix stays refused, whatever it carries
    assert not allowed(ipaddress.ip_address("fe80::5efe:808:808"))
    assert not allowed(ipaddress.ip_address("fd00::5efe:808:808"))


@pytest.mark.parametrize("addr", ["8.8.8.8", "1.1.1.1", "151.101.1.69", "2606:4700:4700::1111",
                                  "2a00:1450:4001:80b::200e", "2620:4f:8000::1"])
def test_public_addresses_pass(addr: str) -> None:
    assert allowed(ipaddress.ip_address(addr))


def test_the_allow_list_also_opens_the_carried_address() -> None:
    policy = FetchPolicy(allow_networks=("127.0.0.2/32",))
    assert sources._allowed(ipaddress.ip_address("::ffff:127.0.0.2"), policy)
    assert sources._allowed(ipaddress.ip_address("2002:7f00:2::1"), policy)
    assert not sources._allowed(ipaddress.ip_address("2002:7f00:1::1"), policy)


@pytest.mark.parametrize("form", ["6to4", "nat64", "mapped", "isatap", "teredo", "compatible"])
def test_literal_urls_are_refused_before_connecting(form: str) -> None:
    addr = carriers("127.0.0.1")[form]
    with pytest.raises(MediaError, match="non-public address"):
        image_size(f"http://[{addr}]:8080/x.png", policy=FetchPolicy(timeout=1.0, deadline=2.0))


class _Redirect(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", f"http://[{carriers('127.0.0.1')['6to4']}]:{self.server.server_address[1]}/x.png")
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def redirector() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.2", 0), _Redirect)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.2:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_redirect_to_a_6to4_address_is_refused(redirector: str) -> None:
    CACHE.clear()
    FAILURES.clear()
    policy = FetchPolicy(allow_networks=("127.0.0.2/32",), timeout=1.0, deadline=2.0)
    with pytest.raises(MediaError, match="non-public address"):
        image_size(f"{redirector}/img.png", policy=policy)


def test_through_the_servers_count_route() -> None:
    url = f"http://[{carriers('169.254.169.254')['6to4']}]/latest/meta-data.png"
    body = {"model": "qwen3.5", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": url}}]}]}
    with running_server(Settings(default_model="qwen3.5")) as base:
        r = httpx.post(base + "/v1/token/count", json=body, timeout=60)
    assert r.status_code == 400, r.text
    message = r.json()["error"]["message"]
    assert "non-public address" in message and "169.254" not in message


def test_a_resolver_answer_is_judged_like_a_literal(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host name whose DNS answer is a 6to4 or NAT64 form of an internal address is refused, and one with a public
    answer beside it connects to the public one. (DNS is the one stand-in here: no resolver on this machine can be
    pointed at a test zone; the answer goes through the real lookup code.)"""
    answers = {
        "sixtofour.example": [carriers("127.0.0.1")["6to4"]],
        "nat64.example": [carriers("10.0.0.5")["nat64"], carriers("192.168.1.1")["mapped"]],
        "mixed.example": [carriers("127.0.0.1")["6to4"], carriers("8.8.8.8")["nat64"]],
    }
    real = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: object, **kwargs: object) -> list:
        if host not in answers:
            return real(host, port, *args, **kwargs)  # type: ignore[arg-type]
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0)) for a in answers[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    policy = FetchPolicy(timeout=1.0)
    for host in ("sixtofour.example", "nat64.example"):
        with pytest.raises(MediaError, match=f"refusing to fetch from '{host}'") as err:
            resolve_address(host, 80, policy, "image")
        assert "127.0.0.1" not in err.value.message and "2002" not in err.value.message
    assert resolve_address("mixed.example", 80, policy, "image") == carriers("8.8.8.8")["nat64"]
