"""Compiled (Neo) and registered versions of the fraud model."""

import dagster as dg
import numpy as np
import pandas as pd

from orchestration.model.artifact import artifact_file, upload_artifact
from orchestration.model.compilation import choose_serving_artifact
from orchestration.model.registry import register_version
from orchestration.settings import load_settings
from orchestration.wiring.resources import AwsClients, ModelReview
from serving.features import FEATURE_NAMES

VERIFY_ROWS = 2000


@dg.asset(group_name="registry", description="The model artifact in S3, compiled with Neo when that works.")
def compiled_model(
    context: dg.AssetExecutionContext,
    aws: AwsClients,
    fraud_model: dict,
    fraud_model_artifact: bytes,
    transaction_features: pd.DataFrame,
) -> dg.Output[dict]:
    settings = load_settings()
    s3, sm = aws.client("s3"), aws.client("sagemaker")
    version = fraud_model["model_version"]
    with artifact_file(fraud_model_artifact) as path:
        uncompiled = upload_artifact(s3, settings, path, version, fraud_model["artifact_sha256"])
    rows = transaction_features[list(FEATURE_NAMES)].tail(VERIFY_ROWS).to_numpy(np.float64)
    record = choose_serving_artifact(
        s3, sm, settings, version, uncompiled, rows, fraud_model["content_sha256"]
    )
    reason, outcome = record["not_compiled_because"], record["compilation"]
    context.log.info(
        f"{version}: serving {'compiled' if record['compiled'] else 'uncompiled'} artifact ({reason or 'ok'})"
    )
    metadata = {
        "model_version": version,
        "compiled": record["compiled"],
        "serving_model_url": record["serving_model_url"],
        "compilation_status": outcome["status"],
        "compilation_seconds": outcome["seconds"],
        **({"not_compiled_because": reason} if reason else {}),
        **{f"verify_{k}": dg.MetadataValue.float(v) for k, v in record.get("verification", {}).items()},
    }
    return dg.Output(record, metadata=metadata)


@dg.asset(
    group_name="registry",
    description="A version in the SageMaker model registry; approved if its review is clean.",
)
def registered_model(
    context: dg.AssetExecutionContext,
    aws: AwsClients,
    model_review: ModelReview,
    fraud_model: dict,
    compiled_model: dict,
) -> dg.Output[dict]:
    findings = fraud_model["review_findings"]
    metadata = {
        "artifact_sha256": fraud_model["artifact_sha256"],
        **{f"sha256_{name}": digest for name, digest in fraud_model["file_sha256"].items()},
        **{name: f"{value:.6f}" for name, value in fraud_model["metrics"].items()},
        "compiled": str(compiled_model["compiled"]).lower(),
    }
    version = register_version(
        aws.client("sagemaker"),
        load_settings(),
        model_review.model_package_group,
        fraud_model["model_version"],
        compiled_model["serving_model_url"],
        metadata,
        checks_passed=not findings,
        content_sha256=compiled_model["serving_content_sha256"],
    )
    context.log.info(f"registered {version.model_version} as {version.arn}: {version.status}")
    record = {
        "package_arn": version.arn,
        "package_version": version.version,
        "approval": version.status,
        "model_version": version.model_version,
        "review_findings": findings,
    }
    return dg.Output(
        record,
        metadata={
            **{k: v for k, v in record.items() if k != "review_findings"},
            "review": "; ".join(findings) or "clean",
        },
    )
