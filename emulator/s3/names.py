"""S3's rules for general purpose bucket names, checked before anything is created."""

from __future__ import annotations

import ipaddress
import re

from emulator.protocol.errors import AwsError

_ALLOWED = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def bucket_name_problem(name: str) -> str | None:
    """Which rule `name` breaks, or None if S3 would accept it."""
    if not 3 <= len(name) <= 63:
        return f"must be between 3 and 63 characters long, not {len(name)}"
    if not _ALLOWED.match(name):
        return (
            "can consist only of lowercase letters, numbers, periods and hyphens, and must begin and end "
            "with a letter or number"
        )
    if ".." in name:
        return "must not contain two adjacent periods"
    try:
        ipaddress.IPv4Address(name)
        return "must not be formatted as an IP address"
    except ValueError:
        pass
    for prefix in _RESERVED_PREFIXES:
        if name.startswith(prefix):
            return f"must not start with the reserved prefix {prefix!r}"
    for suffix in _RESERVED_SUFFIXES:
        if name.endswith(suffix):
            return f"must not end with the reserved suffix {suffix!r}"
    return None


def check_bucket_name(name: str) -> str:
    problem = bucket_name_problem(name)
    if problem:
        raise AwsError(
            "InvalidBucketName",
            f"The specified bucket is not valid: a bucket name {problem}.",
            BucketName=name,
        )
    return name
