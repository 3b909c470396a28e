"""The model registry through boto3 against the emulator's SageMaker: publish, approve, reject, and the
order "newest Approved" relies on."""

import numpy as np
import pytest
import xgboost as xgb

from orchestration.model.artifact import pack_model_artifact
from orchestration.model.registry import (
    APPROVED,
    PENDING,
    REJECTED,
    NotApproved,
    find_version,
    publish_artifact,
    reject,
    require_deployable,
    set_approval,
    versions,
)

GROUP = "registry-tests"


@pytest.fixture(scope="module")
def registered(emulator, tmp_path_factory):
    root = tmp_path_factory.mktemp("registry")
    x = np.random.default_rng(0).uniform(size=(100, 2))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(x, label=x[:, 0] > 0.5), 2)
    sm, s3 = emulator.client("sagemaker"), emulator.client("s3")
    published = {}
    for name, passed in (("g-v1", True), ("g-v2", False), ("g-v3", True)):
        packed = pack_model_artifact(booster, ["a", "b"], 0.5, name, {}, root / name / "model.tar.gz")
        published[name] = publish_artifact(s3, sm, emulator.settings, GROUP, packed, checks_passed=passed)
    return sm, published


def test_publish_registers_a_numbered_version_with_its_artifact(registered, emulator):
    sm, published = registered
    assert [published[n].version for n in ("g-v1", "g-v2", "g-v3")] == [1, 2, 3]
    assert published["g-v1"].status == APPROVED and published["g-v2"].status == PENDING
    url = published["g-v1"].model_data_url
    assert url == f"s3://{emulator.settings.bucket}/models/g-v1/model.tar.gz"
    described = sm.describe_model_package(ModelPackageName=published["g-v1"].arn)
    assert len(described["CustomerMetadataProperties"]["artifact_sha256"]) == 64


def test_versions_are_newest_first_and_filter_by_status(registered):
    sm, _ = registered
    assert [v.model_version for v in versions(sm, GROUP)] == ["g-v3", "g-v2", "g-v1"]
    assert [v.model_version for v in versions(sm, GROUP, APPROVED)] == ["g-v3", "g-v1"]


def test_only_approved_versions_pass_and_the_refusal_says_what_to_do(registered):
    sm, published = registered
    pending = published["g-v2"]
    with pytest.raises(NotApproved) as refused:
        require_deployable(sm, pending.arn)
    assert str(refused.value) == (
        f"model package {pending.arn} (g-v2) is {PENDING}; only Approved versions can be deployed"
        " — approve it with the approve_model_version job first"
    )
    assert require_deployable(sm, published["g-v1"].arn).model_version == "g-v1"


def test_rejecting_removes_a_version_from_newest_approved_and_approving_adds_it(registered):
    sm, published = registered
    rejected = reject(
        sm, published["g-v3"].arn, "rolled back by ab_test_sensor: candidate failed 9 of 30 calls"
    )
    assert rejected.status == REJECTED
    assert rejected.approval_note == "rolled back by ab_test_sensor: candidate failed 9 of 30 calls"
    assert versions(sm, GROUP, APPROVED)[0].model_version == "g-v1"
    with pytest.raises(
        NotApproved, match=r"is Rejected \(rolled back by ab_test_sensor: .*set override_rejection"
    ):
        require_deployable(sm, published["g-v3"].arn)
    with pytest.raises(NotApproved, match="is Rejected"):
        require_deployable(sm, published["g-v3"].arn, override="   ")  # a blank reason is no reason
    assert require_deployable(sm, published["g-v3"].arn, override="the fault was in the feature store").arn
    with pytest.raises(NotApproved, match=PENDING):  # an override skips a rejection, never the approval
        require_deployable(sm, published["g-v2"].arn, override="in a hurry")
    set_approval(sm, published["g-v2"].arn, APPROVED, "reviewed")
    assert versions(sm, GROUP, APPROVED)[0].model_version == "g-v2"


def test_bad_status_and_unknown_versions_get_clear_errors(registered):
    sm, published = registered
    with pytest.raises(
        ValueError, match="approval status must be Approved, Rejected or PendingManualApproval"
    ):
        set_approval(sm, published["g-v1"].arn, "approved", "lowercase")
    with pytest.raises(LookupError, match="model version 'g-v9' is not registered in package group"):
        find_version(sm, GROUP, "g-v9")
    assert find_version(sm, GROUP, "g-v2").arn == published["g-v2"].arn
