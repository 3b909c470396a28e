"""Model artifacts and deployed endpoints shared by the emulator tests (deploying is the slow part)."""

from __future__ import annotations

import io
import tarfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from orchestration.model.artifact import pack_model_artifact

FEATURES = [f"f{i}" for i in range(5)]
BUCKET = "models"
CAPTURE_BUCKET = "capture"
INSTANCE = "ml.m5.large"


def train_booster(seed: int = 0) -> xgb.Booster:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(400, len(FEATURES)))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int)
    return xgb.train({"objective": "binary:logistic", "max_depth": 3}, xgb.DMatrix(x, label=y), 10)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """model.tar.gz files: two good versions and one whose model file no longer matches its manifest."""
    root = tmp_path_factory.mktemp("artifacts")
    booster = train_booster()
    paths = {
        version: pack_model_artifact(
            booster, FEATURES, 0.5, version, {"auc": 0.9}, root / f"{version}.tar.gz"
        ).path
        for version in ("v1", "v2")
    }
    staging = root / "tampered"
    with tarfile.open(paths["v1"]) as tar:
        tar.extractall(staging, filter="data")
    model_file = staging / "xgboost-model.json"
    model_file.write_text(model_file.read_text() + "\n")  # still loadable, but no longer the packed bytes
    paths["tampered"] = root / "tampered.tar.gz"
    with tarfile.open(paths["tampered"], "w:gz") as tar:
        for entry in sorted(staging.iterdir()):
            tar.add(entry, arcname=entry.name)
    return paths


@pytest.fixture(scope="session")
def clients(emulator):
    return {name: emulator.client(name) for name in ("s3", "sagemaker", "sagemaker-runtime")}


@pytest.fixture(scope="session")
def uploaded(clients, artifacts) -> dict[str, str]:
    """The artifacts in the emulator's S3, as ModelDataUrl values."""
    s3 = clients["s3"]
    s3.create_bucket(Bucket=BUCKET)
    s3.create_bucket(Bucket=CAPTURE_BUCKET)
    urls = {}
    for version, path in artifacts.items():
        s3.upload_file(str(path), BUCKET, f"{version}/model.tar.gz")
        urls[version] = f"s3://{BUCKET}/{version}/model.tar.gz"
    return urls


@pytest.fixture(scope="session")
def model_names(clients, uploaded) -> dict[str, str]:
    for version, url in uploaded.items():
        clients["sagemaker"].create_model(
            ModelName=f"model-{version}",
            PrimaryContainer={
                "Image": "rtinfer-xgboost",
                "ModelDataUrl": url,
                "Environment": {"MODE": "test"},
            },
        )
    return {version: f"model-{version}" for version in uploaded}


def variant(name: str, model: str, weight: float = 1.0, count: int = 1) -> dict:
    return {
        "VariantName": name,
        "ModelName": model,
        "InitialVariantWeight": weight,
        "InitialInstanceCount": count,
        "InstanceType": INSTANCE,
    }


WaitFor = Callable[..., Any]


@pytest.fixture(scope="session")
def wait_for() -> WaitFor:
    """`wait_for(condition, timeout=60, what=...)`: poll until `condition()` is truthy and return its value.

    `what` names the condition in the timeout's message; a callable is asked at the timeout, so the
    message can show the last state seen. The deadline is generous: these tests share two cores with
    other work."""

    def run(
        condition: Callable[[], Any], timeout: float = 60.0, what: str | Callable[[], str] = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = condition()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"{what() if callable(what) else what} not met within {timeout:.0f}s")
            time.sleep(0.05)

    return run


@pytest.fixture(scope="session")
def deploy_endpoint() -> Callable[..., str]:
    """`deploy_endpoint(sagemaker, name, wait=True, **config)`: create the endpoint config `{name}-config`
    and the endpoint `name` with any SageMaker client, then wait (boto3's waiter) until it is InService."""

    def run(sagemaker, name: str, wait: bool = True, **config) -> str:
        sagemaker.create_endpoint_config(EndpointConfigName=f"{name}-config", **config)
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
        if wait:
            sagemaker.get_waiter("endpoint_in_service").wait(
                EndpointName=name, WaiterConfig={"Delay": 0.25, "MaxAttempts": 240}
            )
        return name

    return run


@pytest.fixture(scope="session")
def deploy_artifact(deploy_endpoint) -> Callable[..., str]:
    """`deploy_artifact(s3, sagemaker, artifact, bucket, instances=1)`: `artifact` uploaded as
    `model.tar.gz` to `bucket` (which exists), model `m` on it and endpoint `e` of one variant
    `only`, InService; returns the endpoint's name."""

    def run(s3, sagemaker, artifact, bucket: str, instances: int = 1) -> str:
        s3.upload_file(str(artifact), bucket, "model.tar.gz")
        sagemaker.create_model(
            ModelName="m", PrimaryContainer={"Image": "x", "ModelDataUrl": f"s3://{bucket}/model.tar.gz"}
        )
        variant = {
            "VariantName": "only",
            "ModelName": "m",
            "InitialInstanceCount": instances,
            "InstanceType": "ml.m5.large",
        }
        return deploy_endpoint(sagemaker, "e", ProductionVariants=[variant])

    return run


@pytest.fixture(scope="session")
def deploy(clients, deploy_endpoint) -> Callable[..., str]:
    """`deploy_endpoint` on the session emulator."""
    return lambda name, wait=True, **config: deploy_endpoint(clients["sagemaker"], name, wait, **config)


@pytest.fixture(scope="session")
def ab_endpoint(deploy, model_names) -> str:
    """Two production variants weighted 70/30."""
    return deploy(
        "ab",
        ProductionVariants=[variant("A", model_names["v1"], 0.7), variant("B", model_names["v2"], 0.3)],
    )


@pytest.fixture(scope="session")
def capture_bucket(uploaded) -> str:
    return CAPTURE_BUCKET


@pytest.fixture(scope="session")
def shadow_endpoint(deploy, model_names) -> str:
    """One production variant, one shadow, everything captured."""
    return deploy(
        "shadowed",
        ProductionVariants=[variant("prod", model_names["v1"])],
        ShadowProductionVariants=[variant("shadow", model_names["v2"])],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": f"s3://{CAPTURE_BUCKET}/datacapture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        },
    )


@pytest.fixture(scope="session")
def lambda_zip() -> Callable[..., bytes]:
    """A Lambda deployment package built in memory: `{path in zip: source}`."""

    def build(files: dict[str, str]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, source in files.items():
                archive.writestr(path, source)
        return buffer.getvalue()

    return build


@pytest.fixture(scope="session")
def fast_clients(fast_emulator):
    names = ("s3", "sagemaker", "sagemaker-runtime", "cloudwatch")
    return {name: fast_emulator.client(name) for name in names}


FAULTS = {"healthy": None, "failing": "error_rate=1.0", "slow": "latency_ms=200"}


@pytest.fixture(scope="session")
def fast_models(fast_clients, artifacts) -> dict[str, str]:
    """Models on the fast emulator: the v1 artifact healthy, always failing and slow (RTINFER_FAULT),
    and a healthy v2."""
    s3, sagemaker = fast_clients["s3"], fast_clients["sagemaker"]
    s3.create_bucket(Bucket=BUCKET)
    for version in ("v1", "v2"):
        s3.upload_file(str(artifacts[version]), BUCKET, f"{version}/model.tar.gz")
    sagemaker.create_model(
        ModelName="fast-v2",
        PrimaryContainer={"Image": "rtinfer-xgboost", "ModelDataUrl": f"s3://{BUCKET}/v2/model.tar.gz"},
    )
    for name, fault in FAULTS.items():
        sagemaker.create_model(
            ModelName=f"fast-{name}",
            PrimaryContainer={
                "Image": "rtinfer-xgboost",
                "ModelDataUrl": f"s3://{BUCKET}/v1/model.tar.gz",
                "Environment": {"RTINFER_FAULT": fault} if fault else {},
            },
        )
    return {name: f"fast-{name}" for name in (*FAULTS, "v2")}
