"""SigV4 query authentication: the presigned URL, checked as AWS checks it.

A presigned URL carries its signature in the query (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature) so that a browser can open it with no
credentials of its own. The emulator recomputes the signature with the secret of the access key it
names, and refuses an expired, altered or unknown-key URL with S3's errors.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, quote

from emulator.protocol.errors import AwsError

SIGNATURE = "X-Amz-Signature"
CREDENTIAL = "X-Amz-Credential"
_ALGORITHM = "AWS4-HMAC-SHA256"
_MAX_EXPIRES_S = 604_800  # one week, S3's limit
_REQUIRED = ("X-Amz-Algorithm", CREDENTIAL, "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", SIGNATURE)


def is_presigned(query_string: str) -> bool:
    return f"{SIGNATURE}=" in query_string


def credential_scope(query_string: str) -> tuple[str, str] | None:
    """(region, service) from a presigned URL's X-Amz-Credential, or None."""
    credential = dict(parse_qsl(query_string)).get(CREDENTIAL, "")
    parts = credential.split("/")
    return (parts[2], parts[3]) if len(parts) == 5 and parts[4] == "aws4_request" else None


def _query_error(message: str) -> AwsError:
    return AwsError("AuthorizationQueryParametersError", message, 400)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def verify(
    method: str,
    raw_path: str,
    query_string: str,
    headers: Mapping[str, str],
    secrets: Mapping[str, str],
    now: datetime | None = None,
) -> None:
    """Raise the AwsError S3 would answer with unless the presigned request is valid now.

    `raw_path` is the path as sent (still percent-encoded); `headers` maps lower-case names.
    """
    pairs = parse_qsl(query_string, keep_blank_values=True)
    params = dict(pairs)
    missing = [name for name in _REQUIRED if name not in params]
    if missing:
        raise _query_error(f"Query-string authentication requires the {', '.join(missing)} parameter(s)")
    if params["X-Amz-Algorithm"] != _ALGORITHM:
        raise _query_error(f'X-Amz-Algorithm only supports "{_ALGORITHM}"')
    try:
        signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        expires_s = int(params["X-Amz-Expires"])
    except ValueError:
        raise _query_error("X-Amz-Date must be in the ISO8601 Long Format, X-Amz-Expires a number") from None
    if not 0 <= expires_s <= _MAX_EXPIRES_S:
        raise _query_error(f"X-Amz-Expires must be less than a week (in seconds) that is {_MAX_EXPIRES_S}")
    scope_parts = params[CREDENTIAL].split("/")
    if len(scope_parts) != 5 or scope_parts[4] != "aws4_request":
        raise _query_error(f"Error parsing the X-Amz-Credential parameter: {params[CREDENTIAL]!r}")
    access_key, day, region, service, _ = scope_parts
    secret = secrets.get(access_key)
    if secret is None:
        raise AwsError(
            "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403
        )
    if (now or datetime.now(tz=UTC)) > signed_at + timedelta(seconds=expires_s):
        raise AwsError("AccessDenied", "Request has expired", 403)

    signed_headers = params["X-Amz-SignedHeaders"].split(";")
    canonical_query = "&".join(
        f"{_encode(name)}={_encode(value)}" for name, value in sorted(pairs) if name != SIGNATURE
    )
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers)
    canonical_request = "\n".join(
        [method, raw_path, canonical_query, canonical_headers, ";".join(signed_headers), "UNSIGNED-PAYLOAD"]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [_ALGORITHM, params["X-Amz-Date"], scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = _hmac(f"AWS4{secret}".encode(), day)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, params[SIGNATURE]):
        raise AwsError(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            403,
        )
