"""ListObjectsV2 and ListObjects (v1) as S3 renders them: query parameters in, ListBucketResult out."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from xml.sax.saxutils import escape

from emulator.protocol.errors import AwsError
from emulator.s3.backend import Listing, ObjectInfo

XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_KEYS = 1000


def iso_time(info: ObjectInfo) -> str:
    return info.modified.strftime("%Y-%m-%dT%H:%M:%S.") + f"{info.modified.microsecond // 1000:03d}Z"


def parse_max_keys(text: str | None) -> int:
    if text is None:
        return MAX_KEYS
    try:
        value = int(text)
    except ValueError:
        raise AwsError("InvalidArgument", f"max-keys must be an integer, got {text[:40]!r}") from None
    if value < 0:
        raise AwsError("InvalidArgument", f"max-keys must be >= 0, got {value}")
    return min(value, MAX_KEYS)


def encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, ValueError):
        raise AwsError(
            "InvalidArgument", f"The continuation token provided is incorrect: {token[:100]!r}"
        ) from None


def _contents(listing: Listing) -> str:
    return "".join(
        f"<Contents><Key>{escape(o.key)}</Key><LastModified>{iso_time(o)}</LastModified>"
        f"<ETag>&quot;{o.etag}&quot;</ETag><Size>{o.size}</Size><StorageClass>STANDARD</StorageClass>"
        "</Contents>"
        for o in listing.objects
    )


def where_to_start(version: str, query: Mapping[str, str]) -> str:
    """The key a listing starts after: v2's continuation token or start-after, v1's marker."""
    if version == "2":
        token = query.get("continuation-token")
        return decode_token(token) if token else query.get("start-after", "")
    return query.get("marker", "")


def render(version: str, bucket: str, query: Mapping[str, str], max_keys: int, listing: Listing) -> str:
    prefix = query.get("prefix", "")
    truncated = "true" if listing.next_key else "false"
    parts = [
        f'<ListBucketResult xmlns="{XMLNS}"><Name>{escape(bucket)}</Name>',
        f"<Prefix>{escape(prefix)}</Prefix>",
    ]
    if version == "2":
        token = query.get("continuation-token")
        parts += [
            f"<KeyCount>{len(listing.objects)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>",
            f"<IsTruncated>{truncated}</IsTruncated>",
            f"<ContinuationToken>{escape(token)}</ContinuationToken>" if token else "",
            f"<NextContinuationToken>{encode_token(listing.next_key)}</NextContinuationToken>"
            if listing.next_key
            else "",
        ]
    else:
        parts += [
            f"<Marker>{escape(query.get('marker', ''))}</Marker><MaxKeys>{max_keys}</MaxKeys>",
            f"<IsTruncated>{truncated}</IsTruncated>",
        ]
    return "".join([*parts, _contents(listing), "</ListBucketResult>"])
