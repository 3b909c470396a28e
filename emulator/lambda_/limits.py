"""How big a Lambda API request may be, and the checks on what it carries outside the function's code.

Invoke: "For synchronous invocations, the maximum payload size is 6 MB" (asynchronous payloads have
their own, smaller limit, checked by the backend). A deployment package uploaded through the API is
at most 50 MB zipped, carried base64-encoded (4/3) in the JSON body. Every limit is refused with
Lambda's RequestEntityTooLargeException (413).
"""

from __future__ import annotations

from emulator.lambda_.code import MAX_ZIP_BYTES
from emulator.lambda_.errors import invalid_parameter, too_large
from emulator.protocol.body import BodyLimit
from emulator.protocol.errors import AwsError
from emulator.protocol.shapes import STANDARD_ERRORS, Path, RequestShapes, ShapeErrors, validation_path

MAX_INVOKE_BYTES = 6 * 1024 * 1024
MAX_CODE_REQUEST_BYTES = MAX_ZIP_BYTES * 4 // 3 + 1024 * 1024  # base64 zip + the configuration
MAX_REQUEST_BYTES = MAX_INVOKE_BYTES  # configuration and mapping requests are far smaller


def _limit(limit: int, what: str) -> BodyLimit:
    return BodyLimit(limit, lambda size: too_large(f"Request must be smaller than {limit} bytes for {what}."))


INVOKE_LIMIT = _limit(MAX_INVOKE_BYTES, "the Invoke operation")
CODE_LIMIT = _limit(MAX_CODE_REQUEST_BYTES, "a direct deployment package upload")
REQUEST_LIMIT = _limit(MAX_REQUEST_BYTES, "this operation")


def _wrong_type(path: Path, detail: str) -> AwsError:
    where = f"'{validation_path(path)}'" if path else "the body"
    return AwsError(
        "InvalidRequestContentException", f"Could not parse request body into json: {where} {detail}"
    )


SHAPES = RequestShapes("lambda", ShapeErrors(_wrong_type, STANDARD_ERRORS.missing))


def max_items(text: str | None) -> int | None:
    """The MaxItems query parameter: an integer from 1 to 10000."""
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= 10000:
        raise invalid_parameter(f"MaxItems must be an integer between 1 and 10000, got {text[:40]!r}.")
    return int(text)


def marker(text: str | None) -> str | None:
    """The Marker query parameter: the position a previous page's NextMarker gave."""
    if text and not text.isdigit():
        raise invalid_parameter(f"Marker {text[:40]!r} is not a marker this API returned.")
    return text or None
