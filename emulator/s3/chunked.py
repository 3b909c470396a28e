"""`Content-Encoding: aws-chunked` bodies (what boto3 sends for streaming and checksummed uploads):
`hex-size[;chunk-signature=...] CRLF data CRLF ... 0 CRLF [trailers] CRLF`, decoded or refused with
S3's errors."""

from __future__ import annotations

from emulator.protocol.errors import AwsError

_MAX_SIZE_DIGITS = 16
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _incomplete(detail: str) -> AwsError:
    return AwsError(
        "IncompleteBody", f"The request body terminated unexpectedly: the aws-chunked body ends {detail}"
    )


def _malformed(detail: str) -> AwsError:
    return AwsError("InvalidRequest", f"The aws-chunked request body is malformed: {detail}")


def decode_aws_chunked(body: bytes, decoded_length: str | None = None) -> bytes:
    """The payload of an aws-chunked body; `decoded_length` is the X-Amz-Decoded-Content-Length header."""
    out = bytearray()
    pos = 0
    while True:
        line_end = body.find(b"\r\n", pos)
        if line_end < 0:
            raise _incomplete(f"inside the size line of chunk {len(out)} bytes in")
        size_text = body[pos:line_end].split(b";", 1)[0].strip()
        if not size_text or len(size_text) > _MAX_SIZE_DIGITS or not _HEX.issuperset(size_text):
            raise _malformed(f"chunk size {size_text[:20]!r} is not a hexadecimal number")
        size = int(size_text, 16)
        if size == 0:
            break
        start = line_end + 2
        if start + size + 2 > len(body):
            raise _incomplete(f"inside a chunk of {size} bytes")
        if body[start + size : start + size + 2] != b"\r\n":
            raise _malformed(f"a chunk of {size} bytes is not followed by CRLF")
        out += body[start : start + size]
        pos = start + size + 2
    if decoded_length is not None and (not decoded_length.isdigit() or int(decoded_length) != len(out)):
        raise _incomplete(
            f"after {len(out)} bytes, but X-Amz-Decoded-Content-Length says {decoded_length[:20]!r}"
        )
    return bytes(out)
