"""checkov on infra/template.yaml: no failed check; every suppression is an inline skip comment in the
template that gives its reason, and the set of suppressions is the reviewed one below (a new finding
is fixed or suppressed deliberately, never let through).

checkov pins libraries below the product's versions, so it runs from its own venv (`make checkov`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "infra" / "template.yaml"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SUPPRESSED = {
    ("CKV_AWS_119", "AWS::DynamoDB::Table.FeatureStateTable"),
    ("CKV_AWS_119", "AWS::DynamoDB::Table.LabelsTable"),
    ("CKV_AWS_27", "AWS::SQS::Queue.DeadLetterQueue"),
    ("CKV_AWS_27", "AWS::SQS::Queue.BatchFailureQueue"),
    ("CKV_AWS_158", "AWS::Logs::LogGroup.ConsumerLogGroup"),
    ("CKV_AWS_116", "AWS::Serverless::Function.ConsumerFunction"),
    ("CKV_AWS_117", "AWS::Serverless::Function.ConsumerFunction"),
    ("CKV_AWS_173", "AWS::Serverless::Function.ConsumerFunction"),
    ("CKV_AWS_18", "AWS::S3::Bucket.DeadLetterBucket"),
    ("CKV_AWS_21", "AWS::S3::Bucket.DeadLetterBucket"),
    ("CKV_AWS_18", "AWS::S3::Bucket.AuditBucket"),
    ("CKV_AWS_21", "AWS::S3::Bucket.AuditBucket"),
}


@pytest.fixture(scope="module")
def report() -> dict:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} is missing: run `make checkov` (make test does) to create its venv")
    result = subprocess.run(
        [str(CHECKOV), "-f", str(TEMPLATE), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]  # 1: some check failed
    return json.loads(result.stdout)


def _checks(report: dict, kind: str) -> list[dict]:
    return report.get("results", {}).get(kind, [])


def test_checkov_finds_nothing_unaddressed(report):
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in _checks(report, "failed_checks")]
    assert not failed, "fix or suppress (with the reason) in infra/template.yaml:\n" + "\n".join(failed)
    assert report["summary"]["parsing_errors"] == 0
    assert len(_checks(report, "passed_checks")) >= 18  # the scan did look at the resources


def test_each_suppression_is_the_reviewed_one_and_says_why(report):
    skipped = _checks(report, "skipped_checks")
    assert {(c["check_id"], c["resource"]) for c in skipped} == SUPPRESSED
    for check in skipped:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason.split()) >= 8, f"{check['check_id']} on {check['resource']}: say why ({reason!r})"


def test_the_fixed_findings_stay_fixed(report):
    passed = {(c["check_id"], c["resource"]) for c in _checks(report, "passed_checks")}
    for table in ("FeatureStateTable", "LabelsTable"):
        assert ("CKV_AWS_28", f"AWS::DynamoDB::Table.{table}") in passed  # point-in-time recovery
    assert ("CKV_AWS_111", "AWS::IAM::Role.ConsumerRole") in passed  # no write access unconstrained
