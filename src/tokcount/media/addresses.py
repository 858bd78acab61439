"""Which addresses an image may be fetched from: public ones only, judged by where a connection really ends up.

A count-tokens service must not become a proxy into the network it runs in, so :mod:`tokcount.media.sources`
connects only to an address :func:`allowed` accepts (the literal in a URL, and every address a host name resolves
to, for the first URL and every redirect).

Two things make ``ipaddress.ip_address(a).is_global`` alone the wrong test:

- **IPv6 addresses that carry an IPv4 address.** A packet to ``::ffff:127.0.0.1`` goes to 127.0.0.1; so does one
  to the 6to4 address ``2002:7f00:1::`` through a 6to4 relay, and one to ``64:ff9b::7f00:1`` through a NAT64
  gateway, and Python calls the last two global. Such an address is judged as the IPv4 address it is translated
  or relayed to (:func:`translated_ipv4`: IPv4-mapped ``::ffff:0:0/96``, IPv4-translated ``::ffff:0:0:0/96``,
  NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``). An ISATAP interface id (``…:0:5efe:a.b.c.d``,
  ``…:200:5efe:a.b.c.d``) is tunnelled by the prefix's ISATAP router to that IPv4 address
  (:func:`isatap_ipv4`): both must be public. Forms whose IPv4 address only a local translator knows, or that
  hide it, are refused outright (:data:`REFUSED_V6`): local-use NAT64 ``64:ff9b:1::/48`` (any prefix length),
  the deprecated IPv4-compatible ``::/96``, Teredo ``2001::/32``.
- **Python's table of special-purpose ranges lags IANA's** (3.11 calls site-local ``fec0::/10``, the
  documentation range ``3fff::/20``, ``192.0.0.0/24`` and the 6to4 relay anycast ``192.88.99.0/24`` global).
  Those are refused here too, with multicast, reserved, unspecified and the cloud metadata addresses.

``allow_networks`` (the operator's ``TOKCOUNT_MEDIA_ALLOW_NETWORKS``, tests' loopback) lets an address through
when it, or the IPv4 address it carries, is inside one of them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: addresses refused even though ``ipaddress`` calls some of them global (cloud metadata services)
METADATA_ADDRESSES = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"),
                                ipaddress.ip_address("100.100.100.200")})

_V6 = ipaddress.IPv6Network
_V4 = ipaddress.IPv4Network

#: IPv6 prefixes whose last 32 bits are the IPv4 address a packet is delivered to
V4_SUFFIX = (_V6("::ffff:0:0/96"), _V6("::ffff:0:0:0/96"), _V6("64:ff9b::/96"))
SIX_TO_FOUR = _V6("2002::/16")
#: IPv6 ranges refused whatever they carry: local-use NAT64 (its prefix length, hence where the IPv4 address
#: sits, is the local translator's choice), IPv4-compatible (deprecated), Teredo (the IPv4 address is obfuscated
#: and reached through a relay), site-local (deprecated, routed locally), documentation (RFC 9637)
REFUSED_V6 = (_V6("64:ff9b:1::/48"), _V6("::/96"), _V6("2001::/32"), _V6("fec0::/10"), _V6("3fff::/20"))
#: IPv4 ranges Python 3.11 calls global that are not: IETF protocol assignments, 6to4 relay anycast (RFC 7526)
REFUSED_V4 = (_V4("192.0.0.0/24"), _V4("192.88.99.0/24"))
#: ISATAP interface identifiers (RFC 5214): bits 64-95 of the address, the IPv4 address in bits 96-127
_ISATAP_IDS = (0x00005EFE, 0x02005EFE)


def translated_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a packet to ``addr`` is translated or relayed to (IPv4-mapped, IPv4-translated, NAT64,
    6to4): the IPv6 address itself is only a way of writing it."""
    if any(addr in net for net in V4_SUFFIX):
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr in SIX_TO_FOUR:
        return addr.sixtofour
    return None


def isatap_ipv4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an ISATAP router tunnels a packet for ``addr`` to (the prefix decides which router)."""
    value = int(addr)
    return ipaddress.IPv4Address(value & 0xFFFFFFFF) if (value >> 32) & 0xFFFFFFFF in _ISATAP_IDS else None


def allowed(addr: Address, allow_networks: Iterable[str] = ()) -> bool:
    """Whether an image may be fetched from ``addr``: a public address (for an IPv6 address that carries an IPv4
    one, that IPv4 address is public too; for a translated one, only it counts), or one inside
    ``allow_networks``, as is the IPv4 address it carries."""
    nets = _networks(tuple(allow_networks))
    if any(addr in net for net in nets):
        return True
    if isinstance(addr, ipaddress.IPv4Address):
        return _public(addr)
    translated = translated_ipv4(addr)
    if translated is not None:
        return any(translated in net for net in nets) or _public(translated)
    tunnelled = isatap_ipv4(addr)
    if tunnelled is not None and not (any(tunnelled in net for net in nets) or _public(tunnelled)):
        return False
    return _public(addr)


def _public(addr: Address) -> bool:
    if addr in METADATA_ADDRESSES:
        return False
    if isinstance(addr, ipaddress.IPv4Address) and any(addr in net for net in REFUSED_V4):
        return False
    if isinstance(addr, ipaddress.IPv6Address) and (addr.is_site_local or any(addr in n for n in REFUSED_V6)):
        return False
    return addr.is_global and not (addr.is_multicast or addr.is_reserved or addr.is_unspecified)


@lru_cache(maxsize=64)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(c, strict=False) for c in cidrs)
