"""SQS message content rules: allowed characters, sizes, and the MD5 digests clients verify."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from typing import Any

from emulator.protocol.errors import AwsError

MAX_MESSAGE_BYTES = 1_048_576  # 1 MiB, for a message and for a whole batch (SQS raised it from 256 KiB)
# XML 1.0 characters: what SQS accepts in a body or string attribute.
_INVALID_CHARS = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def invalid_parameter(message: str) -> AwsError:
    return AwsError("InvalidParameterValue", message)


def check_body(body: Any) -> str:
    if not isinstance(body, str) or not body:
        raise AwsError("MissingParameter", "The request must contain the parameter MessageBody.")
    bad = _INVALID_CHARS.search(body)
    if bad:
        raise AwsError(
            "InvalidMessageContents",
            f"Invalid characters found in the message body: character {ord(bad.group()):#x} is not allowed",
        )
    return body


def attribute_bytes(attribute: dict) -> bytes:
    if "BinaryValue" in attribute:
        try:
            return base64.b64decode(attribute["BinaryValue"], validate=True)
        except (binascii.Error, ValueError):
            raise invalid_parameter("MessageAttribute BinaryValue is not valid base64") from None
    return str(attribute.get("StringValue", "")).encode()


def check_attributes(attributes: dict[str, dict]) -> None:
    if len(attributes) > 10:
        raise invalid_parameter(
            f"Number of message attributes [{len(attributes)}] exceeds the allowed maximum [10]."
        )
    for name, attribute in attributes.items():
        data_type = attribute.get("DataType", "")
        if data_type.split(".")[0] not in ("String", "Number", "Binary"):
            raise invalid_parameter(
                f"The type of message (user) attribute '{name}' is invalid. You must use only the following "
                f"supported type prefixes: Binary, Number, String. Got {data_type!r}"
            )
        if data_type.startswith("Binary") != ("BinaryValue" in attribute) or not attribute_bytes(attribute):
            raise invalid_parameter(
                f"Message (user) attribute '{name}' must contain a non-empty value of type {data_type}"
            )


def message_size(body: str, attributes: dict[str, dict]) -> int:
    return len(body.encode()) + sum(
        len(name.encode()) + len(a.get("DataType", "").encode()) + len(attribute_bytes(a))
        for name, a in attributes.items()
    )


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode()).hexdigest()


def md5_of_attributes(attributes: dict[str, dict]) -> str | None:
    """The digest SQS documents: per attribute, sorted by name, length-prefixed name, type, value."""
    if not attributes:
        return None
    digest = hashlib.md5()

    def field(data: bytes) -> None:
        digest.update(struct.pack(">I", len(data)) + data)

    for name in sorted(attributes):
        attribute = attributes[name]
        field(name.encode())
        field(attribute["DataType"].encode())
        digest.update(b"\x02" if "BinaryValue" in attribute else b"\x01")
        field(attribute_bytes(attribute))
    return digest.hexdigest()
