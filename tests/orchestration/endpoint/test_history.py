"""The typed deployment history in S3 (the emulator's): what is current, and which versions served."""

import contextlib
import json
from datetime import datetime

import pytest

from orchestration.endpoint.history import DeploymentHistory, RolloutResult


@pytest.fixture
def history(emulator, request):
    s3 = emulator.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=emulator.settings.bucket)
    return DeploymentHistory(s3, emulator.settings, f"history-{request.node.name[:40]}")


def _entry(outcome: str, production: str, mode: str = "single", **fields) -> RolloutResult:
    return RolloutResult(
        action="deploy",
        endpoint_name="e",
        outcome=outcome,
        mode=mode,
        endpoint_config_name=f"config-{production}",
        previous_config_name=None,
        production_version=production,
        production_arn=f"arn:{production}",
        **fields,
    )


def test_an_endpoint_without_history_has_no_current_layout(history):
    assert history.entries() == []
    assert history.current() is None
    assert history.production_arns() == []


def test_append_records_the_time_and_keeps_the_order(history):
    recorded = history.append(_entry("deployed", "v1"))
    assert datetime.fromisoformat(recorded.at).tzinfo is not None
    history.append(_entry("deployed", "v2"))
    assert [entry.production_version for entry in history.entries()] == ["v1", "v2"]
    assert history.entries()[0] == recorded  # typed entries round-trip through the JSON in S3


def test_rolled_back_entries_do_not_count_as_current(history):
    history.append(_entry("deployed", "v1"))
    history.append(_entry("rolled_back", "v1", candidate_version="bad", failure_reason="alarm"))
    current = history.current()
    assert (current.production_version, current.outcome) == ("v1", "deployed")
    history.append(_entry("unchanged", "v1", mode="ab", candidate_version="v2"))
    assert history.current().mode == "ab"  # unchanged took effect: the layout is what it says


def test_production_arns_lists_each_takeover_once_in_order(history):
    for outcome, version in [
        ("deployed", "v1"),
        ("deployed", "v1"),  # the same version again (e.g. a candidate dropped): not a takeover
        ("rolled_back", "v9"),
        ("deployed", "v2"),
        ("unchanged", "v3"),
        ("deployed", "v1"),
    ]:
        history.append(_entry(outcome, version))
    assert history.production_arns() == ["arn:v1", "arn:v2", "arn:v1"]


def test_entries_written_by_a_newer_release_still_load(history, emulator):
    """Unknown fields in the stored JSON are ignored, so older readers keep working."""
    entry = {**_entry("deployed", "v1").as_metadata(), "previous_config_name": None, "future": 1}
    s3 = emulator.client("s3")
    s3.put_object(Bucket=history.bucket, Key=history.key, Body=json.dumps([entry]).encode())
    assert history.current().production_version == "v1"


def test_metadata_leaves_out_empty_fields():
    metadata = _entry("deployed", "v1").as_metadata()
    assert "candidate_version" not in metadata and "at" not in metadata
    assert metadata["production_arn"] == "arn:v1"
    assert _entry("rolled_back", "v1").took_effect is False


def test_last_known_good_skips_the_current_the_rolled_back_and_the_rejected(history):
    history.append(_entry("deployed", "v1"))
    history.append(_entry("deployed", "v2"))
    assert history.last_known_good(lambda arn: False) == "arn:v1"
    history.append(_entry("deployed", "v3"))
    # The health sensor took v3 off: production is v2 again, and v3 is marked as rolled back.
    history.append(_entry("deployed", "v2", rolled_back_arn="arn:v3"))
    assert history.production_arns() == ["arn:v1", "arn:v2", "arn:v3", "arn:v2"]
    assert history.last_known_good(lambda arn: False) == "arn:v1"  # never v3, the faulty one
    assert history.last_known_good(lambda arn: arn == "arn:v1") is None  # v1 was Rejected since


def test_last_known_good_is_none_without_an_earlier_version(history):
    assert history.last_known_good(lambda arn: False) is None
    history.append(_entry("deployed", "v1"))
    assert history.last_known_good(lambda arn: False) is None
