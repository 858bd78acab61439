"""tokcount's check of AWS Signature V4 (tokcount.sigv4) against botocore's own signer: every request botocore
signs with a secret is proved by that secret and by no other, whatever its path, query and headers; a request
changed after signing, or signed too long ago, is not."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tokcount import sigv4
from tokcount.errors import AuthenticationError

#: needs none of ../shared (tests/conftest.py gives it an empty asset directory and cache)
pytestmark = pytest.mark.no_shared

SECRET = b"tokcount-key"
BASE = "http://127.0.0.1:8080"


def signed(path: str, body: bytes, headers: dict[str, str] | None = None, secret: str = "tokcount-key",
           region: str = "us-east-1") -> tuple[str, str, dict[str, str]]:
    """(raw path, raw query, lower-case headers as sent) of a request botocore signed."""
    req = AWSRequest(method="POST", url=BASE + path, data=body, headers=headers or {})
    SigV4Auth(Credentials("AKIDEXAMPLE", secret), "bedrock", region).add_auth(req)
    parts = urlsplit(req.url)
    sent = {k.lower(): v for k, v in req.headers.items()}
    sent.setdefault("host", parts.netloc)
    return parts.path, parts.query, sent


def proved(path: str, query: str, headers: dict[str, str], body: bytes, secret: bytes = SECRET) -> bool:
    claims = sigv4.claims(headers)
    to_sign = sigv4.string_to_sign(claims, "POST", path.encode(), query.encode(), headers, body)
    return sigv4.proves(claims, to_sign, secret)


@pytest.mark.parametrize(("path", "extra"), [
    ("/model/anthropic.claude-sonnet-4-5-20250929-v1%3A0/count-tokens", {}),  # boto3 percent-encodes the ':'
    ("/model/qwen3.5/count-tokens?b=2&a=1&a=0", {}),  # the query's pairs, sorted as sent
    ("/model/x%2Fy/count-tokens", {"Content-Type": "application/json", "X-Custom": "  two   spaces  "}),
])
def test_what_botocore_signs_is_proved_by_its_secret_only(path: str, extra: dict[str, str]) -> None:
    body = b'{"input": {"converse": {"messages": []}}}'
    raw, query, headers = signed(path, body, extra)
    assert sigv4.is_signed(headers)
    assert proved(raw, query, headers, body)
    assert not proved(raw, query, headers, body, secret=b"another-key")
    assert not proved(raw, query, headers, body + b" ")  # the body is signed
    assert not proved(raw.replace("count-tokens", "count-tokenz"), query, headers, body)  # and the path


def test_a_signature_outside_the_skew_is_refused() -> None:
    _, _, headers = signed("/model/m/count-tokens", b"{}")
    sigv4.claims(headers, now=time.time() + sigv4.MAX_SKEW_S - 60)
    with pytest.raises(AuthenticationError, match="expired"):
        sigv4.claims(headers, now=time.time() + sigv4.MAX_SKEW_S + 60)


@pytest.mark.parametrize("auth", ["AWS4-HMAC-SHA256 Credential=a/b", "AWS4-HMAC-SHA256 Credential=AKID/20250101/"
                                  "us-east-1/bedrock/other, SignedHeaders=host;x-amz-date, Signature=" + "0" * 64])
def test_malformed_claims_are_refused_before_anything_is_computed(auth: str) -> None:
    with pytest.raises(AuthenticationError):
        sigv4.claims({"authorization": auth, "x-amz-date": "20250101T000000Z"})


def test_a_declared_body_hash_must_be_the_bodys() -> None:
    raw, query, headers = signed("/model/m/count-tokens", b"{}")
    headers["x-amz-content-sha256"] = "0" * 64
    with pytest.raises(AuthenticationError, match="does not match the body"):
        proved(raw, query, headers, b"{}")
