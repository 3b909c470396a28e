"""Presigned S3 URLs against the emulator: opened with no credentials (as a browser opens them), they
serve the object while their SigV4 query signature holds, and are refused as S3 refuses them when it
does not (altered, expired, unknown key)."""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import boto3
import pytest
from botocore.config import Config

from emulator.protocol import presigned
from emulator.protocol.errors import AwsError
from emulator.s3.api import LOCAL_SECRETS

BUCKET = "presigned-tests"
KEY = "reports/drift 2026-12-01.html"  # a space: the path is signed percent-encoded
BODY = b"<html><body>drift report</body></html>"


@pytest.fixture(scope="module")
def s3(emulator):
    client = emulator.client("s3")
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key=KEY, Body=BODY, ContentType="text/html")
    return client


def _open(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # no credentials, like a browser
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


def _url(s3, expires_s: int = 3600, key: str = KEY) -> str:
    return s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=expires_s)


def test_a_presigned_url_opens_without_credentials(s3):
    status, body, content_type = _open(_url(s3))
    assert (status, body, content_type) == (200, BODY, "text/html")


def test_an_altered_url_is_refused(s3):
    url = _url(s3)
    status, body, _ = _open(url.replace("drift%202026", "drift%202027"))  # another key, same signature
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    signature = dict(parse_qsl(urlsplit(url).query))[presigned.SIGNATURE]
    forged = url.replace(signature, ("0" if signature[0] != "0" else "1") + signature[1:])
    assert _open(forged)[0] == 403


def test_a_url_signed_with_an_unknown_key_is_refused(emulator, s3):
    stranger = boto3.client(
        "s3",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{emulator.port}",
        aws_access_key_id="AKIASTRANGER",
        aws_secret_access_key="not-ours",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    status, body, _ = _open(_url(stranger))
    assert status == 403 and b"<Code>InvalidAccessKeyId</Code>" in body


def _verify(url: str, now: datetime) -> None:
    parts = urlsplit(url)
    presigned.verify("GET", parts.path, parts.query, {"host": parts.netloc}, LOCAL_SECRETS, now)


def test_a_url_is_good_until_it_expires(s3):
    url = _url(s3, expires_s=60)
    signed_at = datetime.strptime(dict(parse_qsl(urlsplit(url).query))["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
    signed_at = signed_at.replace(tzinfo=UTC)
    _verify(url, signed_at + timedelta(seconds=60))  # the last second it is good
    with pytest.raises(AwsError) as expired:
        _verify(url, signed_at + timedelta(seconds=61))
    assert (expired.value.code, expired.value.status, expired.value.message) == (
        "AccessDenied",
        403,
        "Request has expired",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("X-Amz-Expires=60", "X-Amz-Expires=604801"), "X-Amz-Expires must be less than a week"),
        (("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=HMAC-MD5"), "X-Amz-Algorithm only supports"),
        (("X-Amz-Date=", "ignored=&X-Amz-Date=yesterday&X-Amz-Was="), "ISO8601"),
    ],
)
def test_malformed_query_parameters_are_named(s3, change, message):
    url = _url(s3, expires_s=60).replace(*change)
    with pytest.raises(AwsError, match=message) as caught:
        _verify(url, datetime.now(tz=UTC))
    assert caught.value.code == "AuthorizationQueryParametersError" and caught.value.status == 400


def test_a_request_without_a_signature_is_not_presigned():
    assert not presigned.is_presigned("list-type=2&prefix=a")
    assert presigned.credential_scope(
        "X-Amz-Credential=local%2F20261201%2Fus-east-1%2Fs3%2Faws4_request"
    ) == (
        "us-east-1",
        "s3",
    )
