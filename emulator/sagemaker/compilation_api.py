"""Neo compilation jobs on the wire: CreateCompilationJob validated with SageMaker's wording into a typed
JobSpec, jobs rendered back in SageMaker's shapes."""

from __future__ import annotations

from typing import Any

from emulator.protocol.errors import AwsError
from emulator.protocol.json_rpc import JsonDispatcher
from emulator.protocol.pagination import paginate
from emulator.s3.backend import parse_s3_uri
from emulator.sagemaker.compilation import (
    CompilationJob,
    CompilationJobs,
    InputConfig,
    JobSpec,
    OutputConfig,
    TargetPlatform,
)
from emulator.sagemaker.validation import constraint_error

Params = dict[str, Any]

FRAMEWORKS = ("TENSORFLOW", "KERAS", "MXNET", "ONNX", "PYTORCH", "XGBOOST", "TFLITE", "DARKNET", "SKLEARN")
TARGET_DEVICES = (
    "ml_m4", "ml_m5", "ml_m6g", "ml_c4", "ml_c5", "ml_c6g", "ml_p2", "ml_p3", "ml_g4dn", "ml_inf1",
    "ml_inf2", "ml_trn1", "ml_eia2", "jetson_nano", "rasp3b", "x86_win64", "coreml",
)  # fmt: skip
SORT_KEYS = {"Name": "CompilationJobName", "CreationTime": "CreationTime", "Status": "CompilationJobStatus"}
DEFAULT_STOPPING_CONDITION = {"MaxRuntimeInSeconds": 900}


def _input_config(wire: Params) -> InputConfig:
    try:
        parse_s3_uri(wire.get("S3Uri") or "")
    except ValueError as exc:
        raise constraint_error(wire.get("S3Uri"), "inputConfig.s3Uri", str(exc)) from None
    if wire.get("Framework") not in FRAMEWORKS:
        raise constraint_error(
            wire.get("Framework"),
            "inputConfig.framework",
            f"Member must satisfy enum value set: {list(FRAMEWORKS)}",
        )
    return InputConfig(
        wire["S3Uri"], wire["Framework"], wire.get("DataInputConfig"), wire.get("FrameworkVersion")
    )


def _output_config(wire: Params) -> OutputConfig:
    location = wire.get("S3OutputLocation") or ""
    if not location.startswith("s3://"):
        raise constraint_error(
            wire.get("S3OutputLocation"), "outputConfig.s3OutputLocation", "Member must be an s3:// URI"
        )
    device, platform = wire.get("TargetDevice"), wire.get("TargetPlatform")
    if (device is None) == (platform is None):
        raise AwsError(
            "ValidationException", "OutputConfig needs exactly one of TargetDevice and TargetPlatform"
        )
    if device is not None and device not in TARGET_DEVICES:
        raise constraint_error(
            device, "outputConfig.targetDevice", f"Member must satisfy enum value set: {list(TARGET_DEVICES)}"
        )
    if platform is not None and not (platform.get("Os") and platform.get("Arch")):
        raise constraint_error(platform, "outputConfig.targetPlatform", "Member must have Os and Arch")
    target_platform = (
        TargetPlatform(platform["Os"], platform["Arch"], platform.get("Accelerator")) if platform else None
    )
    return OutputConfig(location, device, target_platform, wire.get("CompilerOptions"), wire.get("KmsKeyId"))


def parse_job_spec(params: Params) -> JobSpec:
    name = params.get("CompilationJobName")
    if not name:
        raise constraint_error(name, "compilationJobName", "Member must not be null")
    if not params.get("RoleArn"):
        raise constraint_error(params.get("RoleArn"), "roleArn", "Member must not be null")
    return JobSpec(
        name,
        params["RoleArn"],
        _input_config(params.get("InputConfig") or {}),
        _output_config(params.get("OutputConfig") or {}),
        params.get("StoppingCondition") or DEFAULT_STOPPING_CONDITION,
        params.get("VpcConfig"),
    )


def _present(members: Params) -> Params:
    return {key: value for key, value in members.items() if value is not None}


def _input_wire(config: InputConfig) -> Params:
    return _present(
        {
            "S3Uri": config.s3_uri,
            "DataInputConfig": config.data_input_config,
            "Framework": config.framework,
            "FrameworkVersion": config.framework_version,
        }
    )


def _output_wire(config: OutputConfig) -> Params:
    platform = config.target_platform
    return _present(
        {
            "S3OutputLocation": config.s3_output_location,
            "TargetDevice": config.target_device,
            "TargetPlatform": platform
            and _present({"Os": platform.os, "Arch": platform.arch, "Accelerator": platform.accelerator}),
            "CompilerOptions": config.compiler_options,
            "KmsKeyId": config.kms_key_id,
        }
    )


def _summary(job: CompilationJob) -> Params:
    return _present(
        {
            "CompilationJobName": job.spec.name,
            "CompilationJobArn": job.arn,
            "CreationTime": job.creation_time,
            "CompilationStartTime": job.start_time,
            "CompilationEndTime": job.end_time,
            "LastModifiedTime": job.last_modified_time,
            "CompilationJobStatus": job.status,
            "CompilationTargetDevice": job.spec.output.target_device,
        }
    )


def _job(job: CompilationJob) -> Params:
    spec = job.spec
    return _present(
        {
            "CompilationJobName": spec.name,
            "CompilationJobArn": job.arn,
            "CompilationJobStatus": job.status,
            "RoleArn": spec.role_arn,
            "InputConfig": _input_wire(spec.input),
            "OutputConfig": _output_wire(spec.output),
            "VpcConfig": spec.vpc_config,
            "StoppingCondition": spec.stopping_condition,
            "CreationTime": job.creation_time,
            "LastModifiedTime": job.last_modified_time,
            "CompilationStartTime": job.start_time,
            "CompilationEndTime": job.end_time,
            "ModelArtifacts": {"S3ModelArtifacts": job.artifact_uri},
            "FailureReason": job.failure_reason or "",  # required in the model, empty unless FAILED
            "ModelDigests": job.artifact_digest and {"ArtifactDigest": job.artifact_digest},
        }
    )


def register_compilation(api: JsonDispatcher, jobs: CompilationJobs) -> None:
    @api.operation("CreateCompilationJob")
    def create(params: Params) -> Params:
        return {"CompilationJobArn": jobs.create(parse_job_spec(params)).arn}

    @api.operation("DescribeCompilationJob")
    def describe(params: Params) -> Params:
        return _job(jobs.describe(params["CompilationJobName"]))

    @api.operation("ListCompilationJobs")
    def list_jobs(params: Params) -> Params:
        rows = [
            _summary(job) for job in jobs.list(params.get("NameContains", ""), params.get("StatusEquals"))
        ]
        rows.sort(
            key=lambda r: r[SORT_KEYS.get(params.get("SortBy", "CreationTime"), "CreationTime")],
            reverse=params.get("SortOrder", "Ascending") == "Descending",
        )
        limit = int(params.get("MaxResults") or 100)
        return paginate(rows, "CompilationJobSummaries", params.get("NextToken"), limit)

    @api.operation("StopCompilationJob")
    def stop(params: Params) -> Params:
        jobs.stop(params["CompilationJobName"])
        return {}
