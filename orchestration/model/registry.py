"""The SageMaker model registry, through boto3: one package group, one version per trained model.

Only Approved versions may be deployed; a version is approved automatically only when its quality
checks passed, otherwise it waits as PendingManualApproval for a person (the approve job). The
registry follows the lifecycle's decisions: a version that is rolled back (by a sensor, a failed
canary or a person) becomes Rejected with the reason as its ApprovalDescription, so "the newest
Approved version" never picks it again. Deploying a Rejected version takes a stated override.

Every version records its artifact's digest (CONTENT_SHA256_KEY, see serving.artifact): the model
created from the package hands it to the model server, which refuses any other artifact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestration.model.artifact import PackedArtifact, upload_artifact
from orchestration.model.images import model_image_uri, script_mode_environment
from orchestration.settings import Settings

APPROVED = "Approved"
PENDING = "PendingManualApproval"
REJECTED = "Rejected"
CONTENT_SHA256_KEY = "content_sha256"


class NotApproved(RuntimeError):
    """A deployment asked for a model version that is not Approved (and gave no override)."""


@dataclass(frozen=True)
class RegisteredVersion:
    arn: str
    version: int
    status: str
    model_version: str
    model_data_url: str
    approval_note: str = ""  # ApprovalDescription: who decided the status, and why
    content_sha256: str = ""  # the artifact's digest the model server must find ("" if never recorded)


def ensure_group(sm, group: str, description: str = "rtinfer fraud models") -> None:
    try:
        sm.describe_model_package_group(ModelPackageGroupName=group)
    except sm.exceptions.ClientError:
        sm.create_model_package_group(ModelPackageGroupName=group, ModelPackageGroupDescription=description)


def register_version(
    sm,
    settings: Settings,
    group: str,
    model_version: str,
    model_data_url: str,
    metadata: dict[str, str],
    checks_passed: bool,
    environment: dict[str, str] | None = None,
    *,
    content_sha256: str,
) -> RegisteredVersion:
    """A new package version carrying the model's metrics and artifact hashes as metadata.

    The container is SageMaker's XGBoost image in script mode (orchestration.model.images);
    `environment` is added to its environment (e.g. RTINFER_FAULT for game days). `content_sha256` is
    the digest of the artifact at `model_data_url` (serving.artifact), which the model server will
    insist on.
    """
    if not re.fullmatch(r"[0-9a-f]{64}", content_sha256 or ""):
        raise ValueError(f"content_sha256 must be the artifact's sha256 hex digest, got {content_sha256!r}")
    ensure_group(sm, group)
    response = sm.create_model_package(
        ModelPackageGroupName=group,
        ModelPackageDescription=f"{model_version}",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": model_image_uri(settings),
                    "ModelDataUrl": model_data_url,
                    "Environment": {**script_mode_environment(settings), **(environment or {})},
                }
            ],
            "SupportedContentTypes": ["text/csv", "application/json"],
            "SupportedResponseMIMETypes": ["application/json", "text/csv"],
        },
        ModelApprovalStatus=APPROVED if checks_passed else PENDING,
        CustomerMetadataProperties={
            "model_version": model_version,
            **metadata,
            CONTENT_SHA256_KEY: content_sha256,
        },
    )
    return describe_version(sm, response["ModelPackageArn"])


def publish_artifact(
    s3,
    sm,
    settings: Settings,
    group: str,
    packed: PackedArtifact,
    checks_passed: bool = True,
    environment: dict[str, str] | None = None,
) -> RegisteredVersion:
    """Upload a packed artifact and register it as a new version of `group` (the registry assets do the
    same in two steps, because they may register the compiled artifact instead)."""
    url = upload_artifact(s3, settings, packed.path, packed.model_version, packed.sha256)
    metadata = {"artifact_sha256": packed.sha256}
    return register_version(
        sm,
        settings,
        group,
        packed.model_version,
        url,
        metadata,
        checks_passed,
        environment,
        content_sha256=packed.content_sha256,
    )


def describe_version(sm, arn: str) -> RegisteredVersion:
    described = sm.describe_model_package(ModelPackageName=arn)
    container = described["InferenceSpecification"]["Containers"][0]
    metadata = described.get("CustomerMetadataProperties", {})
    return RegisteredVersion(
        arn=described["ModelPackageArn"],
        version=int(described.get("ModelPackageVersion", 0)),
        status=described["ModelApprovalStatus"],
        model_version=metadata.get("model_version", ""),
        model_data_url=container["ModelDataUrl"],
        approval_note=described.get("ApprovalDescription", ""),
        content_sha256=metadata.get(CONTENT_SHA256_KEY, ""),
    )


def set_approval(sm, arn: str, status: str, note: str) -> RegisteredVersion:
    if status not in (APPROVED, REJECTED, PENDING):
        raise ValueError(f"approval status must be {APPROVED}, {REJECTED} or {PENDING}, got {status!r}")
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status, ApprovalDescription=note)
    return describe_version(sm, arn)


def reject(sm, arn: str, reason: str) -> RegisteredVersion:
    """Mark a version Rejected with the reason (a rollback's decision), so nothing picks it again."""
    return set_approval(sm, arn, REJECTED, reason[:1024])  # ApprovalDescription's limit


def require_deployable(sm, arn: str, override: str = "") -> RegisteredVersion:
    """The version, if it may be deployed: Approved, or Rejected with a stated `override` reason."""
    version = describe_version(sm, arn)
    if version.status == APPROVED or (version.status == REJECTED and override.strip()):
        return version
    if version.status == REJECTED:
        note = version.approval_note or "no note"
        raise NotApproved(
            f"model package {arn} ({version.model_version}) is Rejected ({note}); "
            "to deploy it anyway, set override_rejection to the reason (it is recorded)"
        )
    raise NotApproved(
        f"model package {arn} ({version.model_version}) is {version.status}; only Approved versions "
        "can be deployed — approve it with the approve_model_version job first"
    )


def versions(sm, group: str, status: str | None = None) -> list[RegisteredVersion]:
    """Newest first."""
    kwargs = {"ModelPackageGroupName": group, "SortBy": "CreationTime", "SortOrder": "Descending"}
    if status:
        kwargs["ModelApprovalStatus"] = status
    found, token = [], None
    while True:
        page = sm.list_model_packages(**kwargs, **({"NextToken": token} if token else {}))
        found += [describe_version(sm, item["ModelPackageArn"]) for item in page["ModelPackageSummaryList"]]
        token = page.get("NextToken")
        if not token:
            return found


def find_version(sm, group: str, model_version: str) -> RegisteredVersion:
    for candidate in versions(sm, group):
        if candidate.model_version == model_version:
            return candidate
    raise LookupError(f"model version {model_version!r} is not registered in package group {group!r}")
