"""An AWS error as a service raises it; each protocol renders it in its own wire format."""

from __future__ import annotations

from typing import Any


class AwsError(Exception):
    def __init__(self, code: str, message: str, status: int = 400, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields  # extra members of the modelled error shape (e.g. ModelError.OriginalMessage)


def validation_exception(message: str) -> AwsError:
    return AwsError("ValidationException", message)


def internal_failure(code: str = "InternalFailure") -> AwsError:
    """A fault of the emulator itself: logged where it happened, answered without any detail."""
    return AwsError(code, "The request processing has failed because of an unknown error.", 500)


def too_deep() -> AwsError:
    """A request nested deeper than the emulator follows (its arrays, objects or expressions)."""
    return validation_exception("The request is nested too deeply to be processed")
