"""Neo compilation through the emulator's SageMaker: the compiled artifact is served only when it scores
like the uncompiled one, and otherwise the record says why."""

import numpy as np
import pytest
import xgboost as xgb

from orchestration.model.artifact import pack_model_artifact, upload_artifact
from orchestration.model.compilation import AGREEMENT_TOLERANCE, choose_serving_artifact


@pytest.fixture(scope="module")
def uploaded(emulator, tmp_path_factory):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 4))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=x[:, 0] > 0.2), 10)
    path = tmp_path_factory.mktemp("compile") / "model.tar.gz"
    packed = pack_model_artifact(booster, ["a", "b", "c", "d"], 0.5, "c-v1", {}, path)
    url = upload_artifact(emulator.client("s3"), emulator.settings, packed.path, "c-v1", packed.sha256)
    return url, rng.normal(size=(50, 4))


def test_the_compiled_artifact_is_served_when_it_agrees(emulator, uploaded):
    url, rows = uploaded
    s3, sm = emulator.client("s3"), emulator.client("sagemaker")
    record = choose_serving_artifact(s3, sm, emulator.settings, "c-v1", url, rows)
    assert record["compilation"]["status"] == "COMPLETED", record["compilation"]
    assert record["compiled"] and record["not_compiled_because"] is None
    assert record["serving_model_url"] == record["compilation"]["compiled_model_url"] != url
    assert record["serving_model_url"].startswith(f"s3://{emulator.settings.bucket}/compiled/c-v1/")
    check = record["verification"]
    assert check["max_abs_diff"] <= AGREEMENT_TOLERANCE and check["rows_compared"] == 50
    assert check["uncompiled_1row_us"] > 0 and check["compiled_1row_us"] > 0


def test_a_failed_compilation_serves_the_uncompiled_artifact_and_says_why(emulator, uploaded):
    s3, sm = emulator.client("s3"), emulator.client("sagemaker")
    broken = f"s3://{emulator.settings.bucket}/models/c-broken/model.tar.gz"
    s3.put_object(Bucket=emulator.settings.bucket, Key="models/c-broken/model.tar.gz", Body=b"not a tarball")
    record = choose_serving_artifact(s3, sm, emulator.settings, "c-broken", broken, uploaded[1])
    assert record["compilation"]["status"] == "FAILED"
    assert not record["compiled"] and record["serving_model_url"] == broken
    assert "not a readable tar.gz" in record["not_compiled_because"]
    assert "verification" not in record  # nothing compiled, nothing compared
