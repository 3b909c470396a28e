"""Lambda's error codes, with the HTTP status each carries on the wire."""

from __future__ import annotations

from emulator.protocol.errors import AwsError


def invalid_parameter(message: str) -> AwsError:
    return AwsError("InvalidParameterValueException", message, 400)


def not_found(message: str) -> AwsError:
    return AwsError("ResourceNotFoundException", message, 404)


def conflict(message: str) -> AwsError:
    return AwsError("ResourceConflictException", message, 409)


def too_large(message: str) -> AwsError:
    return AwsError("RequestEntityTooLargeException", message, 413)
