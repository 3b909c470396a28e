"""Damage in an emulator's home (a truncated, garbage or missing model artifact, an undecodable state row,
an instance count over the quotas) costs only the resource it is in: the emulator starts within its
normal start timeout, answers at once, the damaged endpoints are Failed with a reason naming the damage,
and the others serve again. Undecodable rows of other services' resources are skipped, the rest load."""

from __future__ import annotations

import json
import shutil
import sqlite3
import tarfile
import time
from pathlib import Path

from emulator import control
from emulator.app import state_dir
from serving.artifact import write_manifest

BUCKET = "models"
DAMAGES = ("truncated", "garbage", "missing")


def _distinct_artifact(source: Path, out: Path, tag: str) -> Path:
    """`source` repacked with one more file (listed in its manifest): the same model, another ETag
    (its own extraction)."""
    staging = out.with_suffix(".d")
    with tarfile.open(source) as tar:
        tar.extractall(staging, filter="data")
    (staging / "variant.txt").write_text(tag)
    write_manifest(staging)  # the manifest lists every file, the new one too
    with tarfile.open(out, "w:gz") as tar:
        for entry in sorted(staging.iterdir()):
            tar.add(entry, arcname=entry.name)
    shutil.rmtree(staging)
    return out


def _deploy(sagemaker, name: str, key: str) -> None:
    sagemaker.create_model(
        ModelName=name, PrimaryContainer={"Image": "rtinfer-xgboost", "ModelDataUrl": f"s3://{BUCKET}/{key}"}
    )
    variant = {
        "VariantName": "only",
        "ModelName": name,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
    }
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)


def _stored_object(home: Path, key: str) -> tuple[Path, str]:
    """The body file and ETag of an object in the emulator's S3."""
    with sqlite3.connect(state_dir(home) / "state.db") as conn:
        file, etag = conn.execute(
            "SELECT file, etag FROM s3_objects WHERE bucket=? AND key=?", (BUCKET, key)
        ).fetchone()
    return state_dir(home) / "s3" / BUCKET / file, etag


def _damage_home(home: Path) -> None:
    """What a crash, a full disk or a stray edit can leave behind, with the emulator stopped."""
    models = state_dir(home) / "sagemaker" / "models"
    for damage in DAMAGES:
        body, etag = _stored_object(home, f"{damage}/model.tar.gz")
        shutil.rmtree(models / etag)  # as on a new machine or after a cleanup: it must be read again
        if damage == "truncated":
            body.write_bytes(body.read_bytes()[: body.stat().st_size // 2])
        elif damage == "garbage":
            body.write_bytes(b"this is not a tarball" * 50)
        else:
            body.unlink()
    with sqlite3.connect(state_dir(home) / "state.db") as conn:
        conn.execute(
            "UPDATE sagemaker_hosting SET body=? WHERE kind='endpoint' AND name='row'",
            ('{"name": "row", "sta',),
        )
        for table, (key, column) in OTHER_ROWS.items():
            conn.execute(f"UPDATE {table} SET {column}='{{\"trunc' WHERE {key}='broken'")
        (body,) = conn.execute(
            "SELECT body FROM sagemaker_hosting WHERE kind='endpoint' AND name='oversized'"
        ).fetchone()
        record = json.loads(body)
        record["deployed"]["production"][0]["desired_instance_count"] = 1_000_000
        conn.execute(
            "UPDATE sagemaker_hosting SET body=? WHERE kind='endpoint' AND name='oversized'",
            (json.dumps(record),),
        )


OTHER_ROWS = {  # service table, its key column, its JSON column
    "sqs_queues": ("name", "attributes"),
    "dynamodb_tables": ("name", "description"),
    "cw_metric_alarms": ("name", "body"),
    "lambda_functions": ("name", "body"),
}


def _create_other_resources(running, lambda_zip) -> None:
    """A kept and a broken one of each: a queue, a table, an alarm, a function."""
    sqs, dynamodb, cloudwatch, functions = (
        running.client(name) for name in ("sqs", "dynamodb", "cloudwatch", "lambda")
    )
    code = {"ZipFile": lambda_zip({"handler.py": "def handle(event, context):\n    return event\n"})}
    for name in ("kept", "broken"):
        sqs.create_queue(QueueName=name)
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        cloudwatch.put_metric_alarm(
            AlarmName=name, Namespace="N", MetricName="m", Statistic="Sum", Period=60,
            EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
        functions.create_function(
            FunctionName=name, Runtime="python3.11", Role="arn:aws:iam::000000000000:role/r",
            Handler="handler.handle", Code=code,
        )  # fmt: skip


def _other_resources(running) -> dict[str, list[str]]:
    sqs, dynamodb, cloudwatch, functions = (
        running.client(name) for name in ("sqs", "dynamodb", "cloudwatch", "lambda")
    )
    return {
        "sqs_queues": [url.rsplit("/", 1)[1] for url in sqs.list_queues().get("QueueUrls", [])],
        "dynamodb_tables": dynamodb.list_tables()["TableNames"],
        "cw_metric_alarms": [a["AlarmName"] for a in cloudwatch.describe_alarms()["MetricAlarms"]],
        "lambda_functions": [f["FunctionName"] for f in functions.list_functions()["Functions"]],
    }


def _settled(sagemaker, name: str) -> dict | None:
    described = sagemaker.describe_endpoint(EndpointName=name)
    return described if described["EndpointStatus"] != "Creating" else None


def test_damage_fails_only_the_damaged_endpoints(tmp_path, emulator_factory, artifacts, wait_for, lambda_zip):
    home = tmp_path / "home"
    first = emulator_factory(home)
    _create_other_resources(first, lambda_zip)
    s3, sagemaker = first.client("s3"), first.client("sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    s3.upload_file(str(artifacts["v1"]), BUCKET, "good/model.tar.gz")
    for damage in DAMAGES:
        packed = _distinct_artifact(artifacts["v1"], tmp_path / f"{damage}.tar.gz", damage)
        s3.upload_file(str(packed), BUCKET, f"{damage}/model.tar.gz")
    for name in ("good", *DAMAGES, "row", "oversized"):
        _deploy(sagemaker, name, f"{name if name in DAMAGES else 'good'}/model.tar.gz")
    for name in ("good", *DAMAGES, "row", "oversized"):
        sagemaker.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig={"Delay": 0.25, "MaxAttempts": 480}
        )
    assert control.stop(home)

    _damage_home(home)
    started = time.monotonic()
    second = emulator_factory(home, first.port)  # returns once the emulator answers its health check
    healthy_after = time.monotonic() - started
    sagemaker, runtime = second.client("sagemaker"), second.client("sagemaker-runtime")
    # answering before the endpoints are back: they say so rather than hold the start up
    # (a restore may already be done by the time a loaded machine asks)
    assert sagemaker.describe_endpoint(EndpointName="good")["EndpointStatus"] in ("Creating", "InService")
    assert healthy_after < control.START_TIMEOUT_S

    described = {
        name: wait_for(lambda name=name: _settled(sagemaker, name), timeout=180, what=f"{name} settled")
        for name in ("good", *DAMAGES, "row", "oversized")
    }
    statuses = {name: d["EndpointStatus"] for name, d in described.items()}
    assert statuses == {
        "good": "InService",
        **{damage: "Failed" for damage in DAMAGES},
        "row": "Failed",
        "oversized": "Failed",
    }, {name: d.get("FailureReason") for name, d in described.items()}
    reasons = {name: d.get("FailureReason", "") for name, d in described.items()}
    for damage in DAMAGES:
        assert f"s3://{BUCKET}/{damage}/model.tar.gz" in reasons[damage], reasons[damage]
    assert "is not a readable tar.gz" in reasons["truncated"]
    assert "is not a readable tar.gz" in reasons["garbage"]
    assert "stored body" in reasons["missing"] and "missing" in reasons["missing"]
    assert "could not read this endpoint's stored state" in reasons["row"]
    assert reasons["oversized"].startswith("ResourceLimitExceeded: The account-level service limit")
    for name, reason in reasons.items():
        assert str(home) not in reason and "Traceback" not in reason, (name, reason)
    assert not list((state_dir(home) / "sagemaker" / "models").glob(".extract-*"))

    assert _other_resources(second) == {table: ["kept"] for table in OTHER_ROWS}
    answer = runtime.invoke_endpoint(EndpointName="good", Body=b"0,0,0,0,0", ContentType="text/csv")
    assert json.loads(answer["Body"].read())["model_version"] == "v1"
    # the damaged ones can be replaced the usual way
    sagemaker.delete_endpoint(EndpointName="row")
    sagemaker.create_endpoint(EndpointName="row", EndpointConfigName="row")
    sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName="row", WaiterConfig={"Delay": 0.25, "MaxAttempts": 480}
    )
