"""AWS Signature Version 4, checked on the server's side: how boto3 (and every AWS SDK) authenticates a request.

With auth on, the Bedrock route takes a SigV4-signed request as authenticated by the tokcount API key that was its
*secret access key* (``boto3.client("bedrock-runtime", endpoint_url=URL, aws_access_key_id="anything",
aws_secret_access_key=KEY)``): the server recomputes the signature with each configured key and accepts the one
that matches, compared in constant time. The key itself never travels (unlike a Bearer header, which carries it),
and a signature is only valid for its own method, path, query, signed headers and body, within
:data:`MAX_SKEW_S` of the time it names (``x-amz-date``), as AWS checks it. The access key id is not checked (it
names nothing here).

The canonical request is built as botocore builds it for services other than S3: the path percent-encoded once
more (``quote(path, safe="/~")`` of the path as sent), the query's ``name=value`` pairs as sent, sorted, each signed
header's value with its runs of whitespace collapsed, and the body's SHA-256 (or the ``x-amz-content-sha256``
header, when present, which must then be the body's or ``UNSIGNED-PAYLOAD``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from .errors import AuthenticationError

ALGORITHM = "AWS4-HMAC-SHA256"
#: how far the signature's time (``x-amz-date``) may be from the server's clock: AWS's own bound
MAX_SKEW_S = 15 * 60
_AUTH = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*"
                   r"Signature=([0-9a-fA-F]{64})\s*")
_DATE = re.compile(r"\d{8}T\d{6}Z")


def is_signed(headers: Mapping[str, str]) -> bool:
    """Whether the request carries a SigV4 ``Authorization`` header (whatever else it carries)."""
    return headers.get("authorization", "").lstrip().startswith(ALGORITHM)


@dataclass(frozen=True)
class Signed:
    """A request's SigV4 claims, read before its body is: what is signed, by which scope, and the signature."""

    amz_date: str
    scope: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def claims(headers: Mapping[str, str], now: float | None = None) -> Signed:
    """The signature's claims, checked for form and time; :class:`AuthenticationError` saying what is wrong."""
    found = _AUTH.fullmatch(headers.get("authorization", "").strip())
    if found is None:
        raise AuthenticationError("The AWS Signature V4 Authorization header is malformed.")
    credential, signed_headers, signature = found.groups()
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AuthenticationError("The Signature V4 credential must be KEYID/DATE/REGION/SERVICE/aws4_request.")
    _, date, region, service, _ = parts
    amz_date = headers.get("x-amz-date", "")
    if not _DATE.fullmatch(amz_date) or amz_date[:8] != date:
        raise AuthenticationError("The Signature V4 request needs an x-amz-date header of its credential's date.")
    signed = tuple(signed_headers.split(";"))
    if "host" not in signed or "x-amz-date" not in signed:
        raise AuthenticationError("The Signature V4 signature must cover the host and x-amz-date headers.")
    try:
        when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise AuthenticationError("The x-amz-date header is not a date.") from None
    if abs((time.time() if now is None else now) - when) > MAX_SKEW_S:
        raise AuthenticationError("The Signature V4 request is expired or from the future (x-amz-date more than "
                                  f"{MAX_SKEW_S // 60} minutes from the server's time).")
    return Signed(amz_date, f"{date}/{region}/{service}/aws4_request", date, region, service, signed,
                  signature.lower())


def string_to_sign(signed: Signed, method: str, raw_path: bytes, query: bytes, headers: Mapping[str, str],
                   body: bytes) -> bytes:
    """What the signature is the HMAC of (AWS's "string to sign"), from the request as it arrived."""
    body_hash = hashlib.sha256(body).hexdigest()
    declared = headers.get("x-amz-content-sha256")
    if declared is not None and declared not in (body_hash, "UNSIGNED-PAYLOAD"):
        raise AuthenticationError("The x-amz-content-sha256 header does not match the body.")
    path = quote(raw_path.decode("latin-1") or "/", safe="/~")
    pairs = sorted(tuple(p.partition("=")[::2]) for p in query.decode("latin-1").split("&") if p)
    lines = [f"{name}:{' '.join(headers.get(name, '').split())}" for name in signed.signed_headers]
    canonical = "\n".join([method.upper(), path, "&".join(f"{k}={v}" for k, v in pairs), *lines, "",
                           ";".join(signed.signed_headers), declared or body_hash])
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"{ALGORITHM}\n{signed.amz_date}\n{signed.scope}\n{digest}".encode()


def signature(secret: bytes, signed: Signed, to_sign: bytes) -> str:
    """The hex signature of ``to_sign`` made with the secret access key ``secret`` in ``signed``'s scope."""
    key = b"AWS4" + secret
    for part in (signed.date, signed.region, signed.service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(key, to_sign, hashlib.sha256).hexdigest()


def proves(signed: Signed, to_sign: bytes, secret: bytes) -> bool:
    """Whether ``secret`` made the request's signature (compared in constant time)."""
    return hmac.compare_digest(signature(secret, signed, to_sign), signed.signature)
