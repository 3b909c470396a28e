"""Holds every botocore call of a process to the service model botocore ships.

Once `install()`ed, every client the process creates (from any session, boto3's default one
included) checks each call:

- the request, against the operation's input shape with botocore's own ParamValidator. Clients
  validate their requests themselves unless their config turns `parameter_validation` off; for
  those the guard validates. Enum values, which botocore's validation leaves to the service, are
  checked for every client. An invalid request that the service answered with success is a
  violation (AWS would have refused it);
- the parsed response of a successful call, against the operation's output shape, the way
  botocore's Stubber checks the responses it is given (ParamValidator over the output shape, with
  ResponseMetadata left out), plus the enum values of string members, which ParamValidator does
  not check. The models' minimums (`min` of numbers, strings and lists) constrain what callers
  send, not what AWS returns (PutRecords answers FailedRecordCount 0, whose shape has min 1), so
  they are not applied to responses;
- for the JSON protocols, the members of the raw response body: botocore's parser drops the ones
  the model does not know, so a misspelt member would otherwise just read as absent;
- the error code of a failed call (the one botocore picks its exception class by): one the
  operation models (what `client.exceptions.X` catches), one the service models, one of the codes
  AWS documents as common to its APIs, or the bare HTTP status of an error without a body (HEAD).

Violations are kept in memory (`drain()`), or with a report directory appended as JSON lines to
`<directory>/<pid>.jsonl`, which is how processes other than the test process report them.

This file depends on the standard library and botocore only: Lambda function workers import it
from this directory (they run with `python -S` and see none of the project), and `python -m
rtinfer_model_guard <module> [args]` runs `<module>` as `python -m <module>` would, with the guard
installed from the environment (RTINFER_MODEL_GUARD names the report directory); `python -m
rtinfer_model_guard -m <module> [args]` reads the same.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import threading
from typing import Any

ENV = "RTINFER_MODEL_GUARD"
_CONTEXT_KEY = "rtinfer_model_guard.request_problems"
_VALUE_CHARS = 120  # how much of an offending value a report quotes

# Error codes AWS documents as common to the actions of all its services (the "Common Errors"
# page of each API reference), and the ones a service documents beside them without modelling.
COMMON_ERRORS = frozenset(
    {
        "AccessDeniedException",
        "ExpiredTokenException",
        "IncompleteSignature",
        "InternalFailure",
        "InvalidAction",
        "InvalidClientTokenId",
        "InvalidParameterCombination",
        "InvalidParameterValue",
        "InvalidQueryParameter",
        "MalformedQueryString",
        "MissingAction",
        "MissingAuthenticationToken",
        "MissingParameter",
        "NotAuthorized",
        "OptInRequired",
        "RequestExpired",
        # what every JSON-protocol front end answers a body it cannot read into the input shape
        "SerializationException",
        "ServiceUnavailable",
        "ThrottlingException",
        "UnrecognizedClientException",
        "ValidationError",
    }
)
SERVICE_ERRORS: dict[str, frozenset[str]] = {
    # Lambda's front end refuses an Invoke payload over 6 MB (256 KB for Event) with a 413
    # RequestEntityTooLargeException that no operation models.
    "lambda": frozenset({"RequestEntityTooLargeException"}),
    # DynamoDB's "Error handling" page: ValidationException, SerializationException and others
    # that no operation models.
    "dynamodb": frozenset({"ValidationException", "SerializationException", "UnknownOperationException"}),
    # SageMaker answers invalid or unknown resources with ValidationException (not modelled).
    "sagemaker": frozenset({"ValidationException"}),
    "kinesis": frozenset({"ValidationException", "SerializationException"}),
    # S3's "Error responses" page lists its codes; these are the ones not modelled per operation.
    "s3": frozenset(
        {
            "AccessDenied",
            "AuthorizationQueryParametersError",
            "BadDigest",
            "BucketAlreadyOwnedByYou",
            "BucketNotEmpty",
            "EntityTooLarge",
            "EntityTooSmall",
            "InvalidArgument",
            "InvalidBucketName",
            "InvalidDigest",
            "MetadataTooLarge",
            "InvalidPart",
            "InvalidPartOrder",
            "InvalidRange",
            "InvalidRequest",
            "KeyTooLongError",
            "MalformedXML",
            "MethodNotAllowed",
            "MissingContentLength",
            "NoSuchBucket",
            "NoSuchKey",
            "NoSuchLifecycleConfiguration",
            "NoSuchUpload",
            "PreconditionFailed",
            "RequestTimeTooSkewed",
            "SignatureDoesNotMatch",
        }
    ),
}

_lock = threading.Lock()
_recorded: list[dict[str, Any]] = []
_report_dir: str | None = None
_installed = False
_label: str | None = None
_has_enum_cache: dict[tuple[str, str], bool] = {}


def _origin() -> str:
    if _label:
        return f"{_label} (pid {os.getpid()})"
    function = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
    if function:
        return f"Lambda function {function} (pid {os.getpid()})"
    return f"{os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else 'python'} (pid {os.getpid()})"


def record(service: str, operation: str, part: str, path: str, problem: str) -> None:
    violation = {
        "service": service,
        "operation": operation,
        "part": part,
        "path": path,
        "problem": problem,
        "origin": _origin(),
    }
    directory = _report_dir
    if directory:  # a process that reports through files keeps nothing in memory (nobody drains it)
        line = (json.dumps(violation) + "\n").encode()
        try:
            fd = os.open(
                os.path.join(directory, f"{os.getpid()}.jsonl"), os.O_WRONLY | os.O_APPEND | os.O_CREAT
            )
            try:
                os.write(fd, line)  # one write per line: O_APPEND keeps concurrent writers' lines whole
            finally:
                os.close(fd)
            return
        except OSError:
            pass
    with _lock:
        _recorded.append(violation)


def drain() -> list[dict[str, Any]]:
    """The violations recorded in this process since the last drain."""
    with _lock:
        found = list(_recorded)
        _recorded.clear()
    return found


def describe(violation: dict[str, Any]) -> str:
    return (
        f"{violation['service']}.{violation['operation']} {violation['part']} "
        f"{violation['path']}: {violation['problem']} [{violation['origin']}]"
    )


# ---- checks ------------------------------------------------------------------------------------------


def _quote(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _VALUE_CHARS else text[:_VALUE_CHARS] + "..."


def _path(name: str, root: str) -> str:
    return name[1:] if name.startswith(".") else (name or root)


def _problem(reason: str, details: dict[str, Any]) -> str:
    if reason == "missing required field":
        return f"required member {details['required_name']!r} is missing"
    if reason == "unknown field":
        return f"unknown member {details['unknown_param']!r}"
    if reason in ("invalid type", "invalid type for document"):
        valid = ", ".join(details["valid_types"])
        return f"{_quote(details['param'])} has type {type(details['param']).__name__}, valid: {valid}"
    if reason == "invalid range":
        return f"{_quote(details['param'])} is below the minimum {details['min_allowed']}"
    if reason == "invalid enum":
        return f"{_quote(details['param'])} is not one of {', '.join(details['valid_values'])}"
    if reason == "invalid length":
        return f"{_quote(details['param'])} is shorter than the minimum length {details['min_allowed']}"
    return f"{reason}: {', '.join(f'{k}={_quote(v)}' for k, v in details.items())}"


def _validator_class():
    from botocore.validate import ParamValidator, range_check

    class ModelValidator(ParamValidator):
        """botocore's ParamValidator, with its checks of the models' minimums optional (they bind what
        callers send, not what AWS returns) and enum values of strings checked (which it leaves out);
        the per-shape lookups it repeats for every value are cached."""

        def __init__(self, minimums: bool, enums: bool) -> None:
            self._minimums, self._enums = minimums, enums
            self._handlers: dict[Any, Any] = {}  # shape -> the method that validates its values

        def _validate(self, params, shape, errors, name):
            handler = self._handlers.get(shape)
            if handler is None:
                special = self._check_special_validation_cases(shape)
                handler = self._handlers[shape] = special or getattr(self, f"_validate_{shape.type_name}")
            handler(params, shape, errors, name)

        def _range(self, name, value, shape, kind, errors) -> None:
            if self._minimums:
                range_check(name, value, shape, kind, errors)

        def _typed(self, param, valid: tuple, errors, name) -> bool:
            if isinstance(param, valid):
                return True
            errors.report(name, "invalid type", param=param, valid_types=[str(t) for t in valid])
            return False

        def _validate_structure(self, params, shape, errors, name):  # ParamValidator's, in one pass
            if not self._typed(params, (dict,), errors, name):
                return
            members = shape.members
            if shape.is_tagged_union and len(params) != 1:
                errors.report(name, "empty input" if not params else "more than one input", members=members)
            for required in shape.metadata.get("required", ()):
                if required not in params:
                    errors.report(name, "missing required field", required_name=required, user_params=params)
            for param, value in params.items():
                if value is None:  # AWS's JSON protocols take a null member as an absent one
                    continue
                member = members.get(param)
                if member is None:
                    errors.report(name, "unknown field", unknown_param=param, valid_names=list(members))
                else:
                    self._validate(value, member, errors, f"{name}.{param}")

        def _validate_string(self, param, shape, errors, name):
            if self._typed(param, (str,), errors, name):
                self._range(name, len(param), shape, "invalid length", errors)
                if self._enums:
                    enum = shape.enum
                    if enum and param not in enum:
                        errors.report(name, "invalid enum", param=param, valid_values=enum)

        def _validate_list(self, param, shape, errors, name):
            if not self._typed(param, (list, tuple), errors, name):
                return
            self._range(name, len(param), shape, "invalid length", errors)
            member = shape.member
            for index, item in enumerate(param):
                self._validate(item, member, errors, f"{name}[{index}]")

        def _validate_integer(self, param, shape, errors, name):
            if self._typed(param, (int,), errors, name):
                self._range(name, param, shape, "invalid range", errors)

        _validate_long = _validate_integer

        def _validate_double(self, param, shape, errors, name):
            if self._typed(param, self.SCALAR_TYPES["double"], errors, name):
                self._range(name, param, shape, "invalid range", errors)

        _validate_float = _validate_double

    return ModelValidator


_validators: dict[tuple[bool, bool], Any] = {}


def _validate(value: Any, shape, root: str, minimums: bool, enums: bool) -> list[tuple[str, str, str]]:
    validator = _validators.get((minimums, enums))
    if validator is None:
        validator = _validators[(minimums, enums)] = _validator_class()(minimums, enums)
    report = validator.validate(value, shape)
    return [
        (_path(name, root), _problem(reason, details), reason) for reason, name, details in report._errors
    ]


def validate_shape(
    value: Any, shape, root: str, minimums: bool = True, enums: bool = False
) -> list[tuple[str, str]]:
    """(path, problem) for each way `value` breaks `shape`: ParamValidator's rules (the models'
    minimums only if `minimums`), and enum values if `enums`."""
    return [(path, problem) for path, problem, _ in _validate(value, shape, root, minimums, enums)]


def _has_enum(shape, service: str, visiting: set[str] | None = None) -> bool:
    key = (service, shape.name)
    cached = _has_enum_cache.get(key)
    if cached is not None:
        return cached
    visiting = visiting if visiting is not None else set()
    if shape.name in visiting:  # recursive shapes (e.g. DynamoDB's AttributeValue)
        return False
    visiting.add(shape.name)
    kind = shape.type_name
    if kind == "string":
        found = bool(shape.enum)
    elif kind == "structure":
        found = any(_has_enum(member, service, visiting) for member in shape.members.values())
    elif kind == "list":
        found = _has_enum(shape.member, service, visiting)
    elif kind == "map":
        found = _has_enum(shape.key, service, visiting) or _has_enum(shape.value, service, visiting)
    else:
        found = False
    visiting.discard(shape.name)
    _has_enum_cache[key] = found
    return found


def check_enums(value: Any, shape, service: str, path: str, out: list[tuple[str, str]]) -> None:
    """(path, problem) for string members whose value is not one of their model's enum values."""
    if not _has_enum(shape, service):
        return
    kind = shape.type_name
    if kind == "string":
        if isinstance(value, str) and value not in shape.enum:
            out.append((path, f"{_quote(value)} is not one of {', '.join(shape.enum)}"))
    elif kind == "structure" and isinstance(value, dict):
        members = shape.members
        for name, item in value.items():
            member = members.get(name)
            if member is not None:
                check_enums(item, member, service, f"{path}.{name}" if path else name, out)
    elif kind == "list" and isinstance(value, list | tuple):
        for index, item in enumerate(value):
            check_enums(item, shape.member, service, f"{path}[{index}]", out)
    elif kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            check_enums(key, shape.key, service, f"{path} (key {key!r})", out)
            check_enums(item, shape.value, service, f"{path}.{key}", out)


def check_response(parsed: dict[str, Any], operation_model) -> list[tuple[str, str]]:
    """What is wrong with a successful call's parsed response, against the operation's output shape."""
    response = {key: value for key, value in parsed.items() if key != "ResponseMetadata"}
    shape = operation_model.output_shape
    if shape is None:
        return (
            [("(response)", f"the operation has no output, got members {sorted(response)}")]
            if response
            else []
        )
    return validate_shape(response, shape, "(response)", minimums=False, enums=True)


_JSON_PROTOCOLS = ("json", "rest-json")
_body_members: dict[Any, dict[str, Any] | None] = {}  # structure shape -> its body members by wire name


def check_raw_members(body: Any, shape, path: str, out: list[tuple[str, str]]) -> None:
    """Members of a raw JSON body the shape does not have (by their wire names)."""
    kind = shape.type_name
    if kind == "structure" and isinstance(body, dict):
        members = _body_members.get(shape)
        if members is None:
            members = _body_members[shape] = (
                None
                if shape.is_document_type
                else {
                    member.serialization.get("name", name): member
                    for name, member in shape.members.items()
                    if member.serialization.get("location") is None
                }
            )
        if members is None:
            return
        for key, value in body.items():
            member = members.get(key)
            if member is None:
                if not (shape.metadata.get("exception") and key in ("__type", "message", "Message")):
                    out.append(
                        (path or "(response)", f"the body has member {key!r}, which the model does not")
                    )
            else:
                check_raw_members(value, member, f"{path}.{key}" if path else key, out)
    elif kind == "list" and isinstance(body, list):
        for index, item in enumerate(body):
            check_raw_members(item, shape.member, f"{path}[{index}]", out)
    elif kind == "map" and isinstance(body, dict):
        for key, item in body.items():
            check_raw_members(item, shape.value, f"{path}.{key}", out)


def check_raw_body(http_response, operation_model) -> list[tuple[str, str]]:
    """For the JSON protocols: body members the parser would drop for not being in the model."""
    shape = operation_model.output_shape
    service_model = operation_model.service_model
    if (
        shape is None
        or operation_model.has_streaming_output
        or getattr(service_model, "resolved_protocol", service_model.protocol) not in _JSON_PROTOCOLS
        or shape.serialization.get("payload")  # the body is one member, not the structure
    ):
        return []
    content = http_response.content
    if not content:
        return []
    try:
        body = json.loads(content)
    except ValueError:
        return [("(response)", "the body is not JSON")]
    out: list[tuple[str, str]] = []
    check_raw_members(body, shape, "", out)
    return out


def allowed_error_codes(operation_model) -> frozenset[str]:
    service_model = operation_model.service_model
    modelled = {shape.error_code for shape in operation_model.error_shapes}
    modelled |= {shape.error_code for shape in service_model.error_shapes}
    return frozenset(modelled) | COMMON_ERRORS | SERVICE_ERRORS.get(service_model.service_name, frozenset())


def check_error(code: str | None, status: int, operation_model) -> list[tuple[str, str]]:
    if not code:
        return [("Error.Code", "the error response carries no error code")]
    if code in allowed_error_codes(operation_model) or code == str(status):
        return []
    modelled = sorted({shape.error_code for shape in operation_model.error_shapes})
    return [
        (
            "Error.Code",
            f"{code!r} is neither modelled (the operation's errors: {', '.join(modelled) or 'none'}) "
            "nor one of AWS's common error codes",
        )
    ]


# ---- hooks --------------------------------------------------------------------------------------------


def _names(model) -> tuple[str, str]:
    return model.service_model.service_name, model.name


# Request members whose enum in the model is not what AWS accepts: ReceiveMessage's (deprecated)
# AttributeNames takes message system attributes (ApproximateReceiveCount, SentTimestamp, ...), as its
# own documentation lists, while its enum is the queue attributes' (QueueAttributeName).
REQUEST_ENUMS_NOT_ENFORCED = {("sqs", "ReceiveMessage"): frozenset({"AttributeNames"})}


def _enforced(model, problems: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    exempt = REQUEST_ENUMS_NOT_ENFORCED.get((model.service_model.service_name, model.name), frozenset())
    return [
        (path, problem)
        for path, problem, reason in problems
        if not (reason == "invalid enum" and path.split("[")[0].split(".")[0] in exempt)
    ]


def _validate_request(params, model, context, **_):
    """For clients that skip botocore's client-side validation: what the model says of the request."""
    if model.input_shape is not None:
        problems = _enforced(model, _validate(params, model.input_shape, "(request)", True, True))
        if problems:
            context[_CONTEXT_KEY] = problems


def _check_request_enums(params, model, context, **_):
    """For clients that validate: the enum values botocore's validation leaves to the service."""
    if model.input_shape is not None:
        found: list[tuple[str, str]] = []
        check_enums(params, model.input_shape, model.service_model.service_name, "", found)
        problems = _enforced(model, [(path, problem, "invalid enum") for path, problem in found])
        if problems:
            context[_CONTEXT_KEY] = problems


def _check_success(http_response, parsed, model, context, **_):
    """Runs before every other after-call handler: it sees the response as parsed, before any handler
    (boto3's DynamoDB resource, for one) turns it into something else."""
    if http_response.status_code >= 300:
        return
    try:
        service, operation = _names(model)
        for path, problem in context.pop(_CONTEXT_KEY, None) or ():
            record(service, operation, "request", path, f"{problem} (and the service accepted it)")
        for path, problem in check_response(parsed, model) + check_raw_body(http_response, model):
            record(service, operation, "response", path, problem)
    except Exception as exc:  # the guard must never break the call it watches
        record("guard", getattr(model, "name", "?"), "internal", "", f"{type(exc).__name__}: {exc}")


def _check_failure(http_response, parsed, model, context, **_):
    """Registered last on after-call: botocore's own handlers may pick the code the exception class
    comes from (SQS: the shape name, kept as QueryErrorCode), as `error_code_override`."""
    if http_response.status_code < 300:
        return
    try:
        service, operation = _names(model)
        code = context.get("error_code_override") or (parsed.get("Error") or {}).get("Code")
        for path, problem in check_error(code, http_response.status_code, model):
            record(service, operation, "error", path, problem)
    except Exception as exc:
        record("guard", getattr(model, "name", "?"), "internal", "", f"{type(exc).__name__}: {exc}")


def attach(client) -> None:
    from botocore.validate import ParamValidationDecorator

    events = client.meta.events
    # A client's config does not say whether it validates (meta.config.parameter_validation stays True
    # when the client was created with it off); its serializer does.
    validates = isinstance(getattr(client, "_serializer", None), ParamValidationDecorator)
    check = _check_request_enums if validates else _validate_request
    events.register_last("before-parameter-build", check, unique_id="rtinfer-guard-request")
    # handlers of more specific events run first: at the operation level (any operation), first there,
    # the check sees the response before handlers registered for the service or for `after-call`
    service_id = client.meta.service_model.service_id.hyphenize()
    events.register_first(f"after-call.{service_id}.*", _check_success, unique_id="rtinfer-guard-response")
    events.register_last("after-call", _check_failure, unique_id="rtinfer-guard-error")


def install(report_dir: str | None = None, label: str | None = None) -> None:
    """Check every client created from now on; violations go to files in `report_dir` if given, else
    to memory; `label` names this process in them."""
    global _installed, _report_dir, _label
    with _lock:
        _report_dir = report_dir
        _label = label or _label
        if _installed:
            return
        _installed = True
    from botocore.client import ClientCreator

    original = ClientCreator.create_client

    def create_client(self, *args, **kwargs):
        client = original(self, *args, **kwargs)
        attach(client)
        return client

    ClientCreator.create_client = create_client


def install_when_imported(report_dir: str) -> None:
    """Install as soon as botocore's client module is imported (now, if it already is): processes that
    never use botocore do not pay for importing it."""
    if "botocore.client" in sys.modules:
        install(report_dir)
        return
    import importlib.abc
    import importlib.machinery

    class _Finder(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "botocore.client":
                return None
            sys.meta_path.remove(self)
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            load = spec.loader.exec_module

            def exec_module(module):
                load(module)
                install(report_dir)

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Finder())


def run_module(argv: list[str]) -> None:
    """`python -m <argv[0]> <argv[1:]>`, in this process (a leading "-m" is allowed)."""
    argv = argv[1:] if argv[:1] == ["-m"] else list(argv)
    sys.argv = argv
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    import rtinfer_model_guard as guard  # the importable module, not this __main__ copy

    if os.environ.get(ENV):
        guard.install_when_imported(os.environ[ENV])
    guard.run_module(sys.argv[1:])
