"""Checks on function configuration, with AWS's limits and error codes; each names the field and value."""

from __future__ import annotations

import re
from typing import Any

from emulator.lambda_.errors import invalid_parameter
from emulator.protocol.errors import validation_exception

RUNTIMES = ("python3.11", "python3.12")
_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}\Z")
_HANDLER = re.compile(r"[^\s]+\.[^\s.]+\Z")
_RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise validation_exception(
            f"1 validation error detected: Value {name!r} at 'functionName' failed to satisfy constraint: "
            "Member must match [a-zA-Z0-9-_]{1,64}"
        )
    return name


def check_int(params: dict, field: str, default: int, low: int, high: int) -> int:
    value = params.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid_parameter(f"{field} must be an integer between {low} and {high}, got {value!r}.")
    return value


def check_runtime(runtime: Any) -> str:
    if runtime not in RUNTIMES:
        raise invalid_parameter(
            f"The runtime parameter of {runtime!r} is not supported by the emulator; use one of "
            f"{', '.join(RUNTIMES)}."
        )
    return runtime


def check_handler(handler: Any) -> str:
    if not isinstance(handler, str) or not _HANDLER.match(handler):
        raise invalid_parameter(f"Handler must look like 'module.function', got {handler!r}.")
    return handler


def check_variables(environment: Any) -> dict[str, str]:
    variables = (environment or {}).get("Variables") or {}
    if not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values()):
        raise invalid_parameter(f"Environment.Variables must map names to strings, got {variables!r}.")
    reserved = sorted(_RESERVED_VARIABLES & variables.keys())
    if reserved:
        raise invalid_parameter(
            "Lambda was unable to configure your environment variables because the environment variables "
            "you have provided contains reserved keys that are currently not supported for modification. "
            f"Reserved keys used in this request: {','.join(reserved)}"
        )
    return dict(variables)


def check_configuration(params: dict, current: dict) -> dict:
    """The configuration fields of a Create/UpdateFunctionConfiguration, over `current` defaults."""
    merged = {**current, **params}
    return {
        "Runtime": check_runtime(merged.get("Runtime")),
        "Handler": check_handler(merged.get("Handler")),
        "Timeout": check_int(merged, "Timeout", 3, 1, 900),
        "MemorySize": check_int(merged, "MemorySize", 128, 128, 10240),
        "Environment": {"Variables": check_variables(merged.get("Environment"))},
        "Role": merged.get("Role", ""),
        "Description": merged.get("Description", ""),
    }
