"""How big an SQS request body may be, and how SQS refuses the ones that do not fit its model.

SendMessageBatch: "The maximum allowed individual message size and the maximum total payload size
(the sum of the individual lengths of all of the batched messages) are both 1 MiB". JSON may escape
every byte of a message as `\\u00XX` (six bytes), so a body within the limit can be six times that.
"""

from __future__ import annotations

from emulator.protocol.body import BodyLimit
from emulator.protocol.errors import AwsError
from emulator.protocol.json_rpc import MIB
from emulator.protocol.shapes import STANDARD_ERRORS, Path, ShapeErrors

PAYLOAD_BYTES = MIB
MAX_BODY_BYTES = 6 * PAYLOAD_BYTES + 64 * 1024  # escaped payload + the request's other members


def _batch_too_long(size: int) -> AwsError:
    return AwsError(
        "BatchRequestTooLong",
        f"Batch requests cannot be longer than {PAYLOAD_BYTES} bytes: the request body is {size} bytes.",
    )


def _too_long(size: int) -> AwsError:
    return AwsError(
        "InvalidParameterValue",
        f"One or more parameters are invalid. Reason: Message must be shorter than {PAYLOAD_BYTES} bytes "
        f"(the request body is {size} bytes).",
    )


def body_limit(operation: str) -> BodyLimit:
    return BodyLimit(MAX_BODY_BYTES, _batch_too_long if operation.endswith("Batch") else _too_long)


def _missing(path: Path) -> AwsError:
    return AwsError("MissingParameter", f"The request must contain the parameter {'.'.join(map(str, path))}.")


SQS_ERRORS = ShapeErrors(STANDARD_ERRORS.wrong_type, _missing)
