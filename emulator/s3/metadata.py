"""User-defined object metadata: the `x-amz-meta-*` headers of a PUT, returned as sent on GET and HEAD."""

from __future__ import annotations

from collections.abc import Mapping

from emulator.protocol.errors import AwsError

PREFIX = "x-amz-meta-"
MAX_METADATA_BYTES = 2048  # the sum of the UTF-8 bytes of every name and value


def user_metadata(headers: Mapping[str, str]) -> dict[str, str]:
    """The metadata in request `headers` (names lower-cased, without the prefix)."""
    metadata = {
        name[len(PREFIX) :].lower(): value
        for name, value in headers.items()
        if name.lower().startswith(PREFIX)
    }
    # header values arrive decoded as latin-1: encoding them back gives the bytes the client sent
    size = sum(len(name.encode("latin-1")) + len(value.encode("latin-1")) for name, value in metadata.items())
    if size > MAX_METADATA_BYTES:
        raise AwsError(
            "MetadataTooLarge",
            f"Your metadata headers exceed the maximum allowed metadata size: {size} bytes, the limit is "
            f"{MAX_METADATA_BYTES}.",
            Size=size,
            MaxSizeAllowed=MAX_METADATA_BYTES,
        )
    if any(not name for name in metadata):
        raise AwsError("InvalidArgument", f"A metadata header needs a name after {PREFIX!r}.")
    return metadata


def metadata_headers(metadata: Mapping[str, str]) -> dict[str, str]:
    return {PREFIX + name: value for name, value in metadata.items()}
