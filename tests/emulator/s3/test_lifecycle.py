"""Bucket lifecycle configuration: the API through real boto3, expiration on an injected clock."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError

from emulator.housekeeping import Housekeeping, Job
from emulator.protocol.errors import AwsError
from emulator.s3.backend import S3Backend
from emulator.s3.lifecycle import Rule
from emulator.state import Database


def _rule(prefix: str = "predictions/", days: int = 30, **overrides) -> dict:
    return {
        "ID": "expire",
        "Filter": {"Prefix": prefix},
        "Status": "Enabled",
        "Expiration": {"Days": days},
    } | overrides


@pytest.fixture
def s3(emulator):
    return emulator.client("s3")


@pytest.fixture
def bucket(s3) -> str:
    name = f"lifecycle-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return name


def test_a_configuration_is_stored_read_back_and_deleted(s3, bucket):
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert missing.value.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={"Rules": [_rule(), _rule("tmp/", 1, ID="tmp", Status="Disabled")]},
    )
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rules == [_rule(), _rule("tmp/", 1, ID="tmp", Status="Disabled")]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [_rule(days=7)]})
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == [_rule(days=7)]  # replaced whole
    s3.delete_bucket_lifecycle(Bucket=bucket)
    s3.delete_bucket_lifecycle(Bucket=bucket)  # deleting a missing one succeeds, as on S3
    with pytest.raises(ClientError):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0  # the bucket itself is untouched


@pytest.mark.parametrize(
    ("rule", "code", "says"),
    [
        (_rule(days=0), "InvalidArgument", "positive integer"),
        (_rule(Filter={"Tag": {"Key": "k", "Value": "v"}}), "InvalidArgument", "only Prefix"),
        (_rule(Transitions=[{"Days": 30, "StorageClass": "GLACIER"}]), "InvalidArgument", "not emulated"),
        (_rule(Status="Sometimes"), "MalformedXML", "Status"),
    ],
)
def test_a_rule_it_cannot_honour_is_refused_saying_why(s3, bucket, rule, code, says):
    with pytest.raises(ClientError) as refused:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    assert refused.value.response["Error"]["Code"] == code
    assert says in refused.value.response["Error"]["Message"]


def test_a_missing_bucket_has_no_lifecycle(s3):
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.put_bucket_lifecycle_configuration(
            Bucket=f"missing-{uuid.uuid4().hex[:8]}", LifecycleConfiguration={"Rules": [_rule()]}
        )


def test_expiry_is_the_first_midnight_utc_after_the_days():
    rule = Rule("r", "", True, 2)
    assert rule.expires_at(datetime(2026, 3, 1, 10, 30, tzinfo=UTC)) == datetime(2026, 3, 4, tzinfo=UTC)
    assert rule.expires_at(datetime(2026, 3, 1, tzinfo=UTC)) == datetime(2026, 3, 3, tzinfo=UTC)


@pytest.fixture
def backend(tmp_path) -> S3Backend:
    backend = S3Backend(Database(tmp_path / "state.db"), tmp_path / "s3")
    backend.create_bucket("audit")
    return backend


def test_only_objects_under_an_enabled_rules_prefix_expire_and_only_once_due(backend):
    backend.put_lifecycle("audit", [Rule("p", "predictions/", True, 1), Rule("off", "kept/", False, 1)])
    for key in ("predictions/a", "predictions/b", "kept/c", "other/d"):
        backend.put_object("audit", key, b"x", "application/octet-stream")
    written = backend.head_object("audit", "predictions/a").modified
    due = Rule("p", "predictions/", True, 1).expires_at(written)
    assert backend.expire_objects(now=due - timedelta(seconds=1)) == 0
    assert backend.expire_objects(now=due) == 2
    remaining = [info.key for info in backend.list_objects("audit", "", "", 100).objects]
    assert remaining == ["kept/c", "other/d"]
    assert not list((backend._root / "audit").glob("*.tmp"))


def test_the_housekeeping_thread_deletes_an_expired_object(backend):
    backend.put_lifecycle("audit", [Rule("p", "predictions/", True, 1)])
    backend.put_object("audit", "predictions/old", b"x", "application/octet-stream")
    two_days_on = datetime.now(UTC) + timedelta(days=2)  # the injected clock
    swept = threading.Event()

    def expire() -> None:
        backend.expire_objects(now=two_days_on)
        swept.set()

    housekeeping = Housekeeping([Job("s3 lifecycle", 0.0, expire)])
    housekeeping.start()
    try:
        deadline = time.monotonic() + 30
        while backend.list_objects("audit", "predictions/", "", 10).objects:
            assert time.monotonic() < deadline, "the expired object is still there after 30 s"
            swept.wait(0.1)
    finally:
        housekeeping.close()
    with pytest.raises(AwsError, match="does not exist"):
        backend.head_object("audit", "predictions/old")
