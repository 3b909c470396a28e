"""State written by the release before the typed backends (tables `sagemaker`, `sagemaker_registry`,
`sagemaker_compilation`, `cw_alarms`, each record in its wire shape) is read after an upgrade."""

from __future__ import annotations

import json
import sqlite3

from emulator import control
from emulator.app import state_dir
from emulator.legacy_tables import Replacement, migrate
from emulator.state import Database

ARN = "arn:aws:sagemaker:us-east-1:000000000000"
URL = "s3://models/v1/model.tar.gz"
AT = 1_750_000_000.0
# rows as that release wrote them (its schema; bodies trimmed to what it stored for these requests)
OLD_SCHEMA = """
CREATE TABLE sagemaker (kind TEXT, name TEXT, body TEXT, PRIMARY KEY (kind, name));
CREATE TABLE sagemaker_registry (kind TEXT, name TEXT, body TEXT, PRIMARY KEY (kind, name));
CREATE TABLE sagemaker_compilation (name TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE cw_alarms (name TEXT PRIMARY KEY, body TEXT NOT NULL);
"""
VARIANT = {
    "VariantName": "AllTraffic",
    "ModelName": "old-model",
    "InitialInstanceCount": 1,
    "InstanceType": "ml.m5.large",
}
DEPLOYED = {
    "VariantName": "AllTraffic",
    "ModelName": "old-model",
    "ModelDataUrl": URL,
    "Image": "rtinfer-xgboost",
    "Environment": {},
    "InstanceType": "ml.m5.large",
    "CurrentWeight": 1.0,
    "DesiredWeight": 1.0,
    "CurrentInstanceCount": 1,
    "DesiredInstanceCount": 1,
}
CANARY = {
    "BlueGreenUpdatePolicy": {
        "TrafficRoutingConfiguration": {
            "Type": "CANARY",
            "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
            "WaitIntervalInSeconds": 60,
        },
        "TerminationWaitInSeconds": 0,
        "MaximumExecutionTimeoutInSeconds": 900,
    },
    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "old-alarm"}]},
}
HOSTING = {
    ("model", "old-model"): {
        "ModelName": "old-model",
        "PrimaryContainer": {"Image": "rtinfer-xgboost", "ModelDataUrl": URL},
        "ModelArn": f"{ARN}:model/old-model",
        "CreationTime": AT,
    },
    ("config", "old-config"): {
        "EndpointConfigName": "old-config",
        "ProductionVariants": [VARIANT],
        "EndpointConfigArn": f"{ARN}:endpoint-config/old-config",
        "CreationTime": AT,
    },
    ("endpoint", "old-endpoint"): {
        "EndpointName": "old-endpoint",
        "EndpointArn": f"{ARN}:endpoint/old-endpoint",
        "EndpointConfigName": "old-config",
        "EndpointStatus": "InService",
        "CreationTime": AT,
        "LastModifiedTime": AT,
        "Deployed": {
            "ProductionVariants": [DEPLOYED],
            "ShadowProductionVariants": [],
            "DataCaptureConfig": None,
        },
        "LastDeploymentConfig": CANARY,
    },
}
PACKAGE_ARN = f"{ARN}:model-package/old-group/1"
REGISTRY = {
    ("group", "old-group"): {
        "ModelPackageGroupName": "old-group",
        "ModelPackageGroupArn": f"{ARN}:model-package-group/old-group",
        "ModelPackageGroupDescription": "from the old release",
        "CreationTime": AT,
        "CreatedBy": {},
        "ModelPackageGroupStatus": "Completed",
        "LatestVersion": 1,
    },
    ("package", PACKAGE_ARN): {
        "ModelPackageGroupName": "old-group",
        "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {
            "Containers": [{"Image": "rtinfer-xgboost", "ModelDataUrl": URL}],
            "SupportedContentTypes": ["text/csv"],
        },
        "CustomerMetadataProperties": {"model_version": "v1"},
        "ModelPackageName": "old-group",
        "ModelPackageVersion": 1,
        "ModelPackageArn": PACKAGE_ARN,
        "ModelPackageStatus": "Completed",
        "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        "CreationTime": AT,
        "LastModifiedTime": AT,
        "CertifyForMarketplace": False,
    },
}
JOB = {
    "CompilationJobName": "old-job",
    "RoleArn": "arn:aws:iam::000000000000:role/neo",
    "InputConfig": {"S3Uri": URL, "Framework": "XGBOOST"},
    "OutputConfig": {"S3OutputLocation": "s3://models/compiled", "TargetDevice": "ml_m5"},
    "CompilationJobArn": f"{ARN}:compilation-job/old-job",
    "CompilationJobStatus": "COMPLETED",
    "StoppingCondition": {"MaxRuntimeInSeconds": 900},
    "CreationTime": AT,
    "LastModifiedTime": AT,
    "ModelArtifacts": {"S3ModelArtifacts": "s3://models/compiled/model-ml_m5.tar.gz"},
    "CompilationStartTime": AT,
    "CompilationEndTime": AT,
    "ModelDigests": {"ArtifactDigest": "ab" * 32},
}
ALARM = {
    "AlarmName": "old-alarm",
    "Namespace": "AWS/SageMaker",
    "MetricName": "Invocation5XXErrors",
    "Dimensions": [{"Name": "EndpointName", "Value": "old-endpoint"}],
    "Statistic": "Sum",
    "Period": 60,
    "EvaluationPeriods": 1,
    "Threshold": 1,
    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
    "DatapointsToAlarm": 1,
    "TreatMissingData": "missing",
    "ActionsEnabled": True,
    "OKActions": [],
    "AlarmActions": [],
    "InsufficientDataActions": [],
    "AlarmArn": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:old-alarm",
    "AlarmConfigurationUpdatedTimestamp": AT,
    "StateValue": "OK",
    "StateReason": "set by the old release",
    "StateUpdatedTimestamp": AT,
    "StateTransitionedTimestamp": AT,
}


def _write_old_state(db_path) -> None:
    conn = sqlite3.connect(db_path)
    with conn:
        conn.executescript(OLD_SCHEMA)
        for table, rows in (("sagemaker", HOSTING), ("sagemaker_registry", REGISTRY)):
            conn.executemany(
                f"INSERT INTO {table} VALUES (?, ?, ?)", [(*key, json.dumps(b)) for key, b in rows.items()]
            )
        conn.execute("INSERT INTO sagemaker_compilation VALUES (?, ?)", ("old-job", json.dumps(JOB)))
        conn.execute("INSERT INTO cw_alarms VALUES (?, ?)", ("old-alarm", json.dumps(ALARM)))
    conn.close()


def test_state_of_the_previous_release_is_read_after_an_upgrade(tmp_path, emulator_factory, artifacts):
    home = tmp_path / "home"
    first = emulator_factory(home)  # S3's tables did not change: the artifact goes in the usual way
    s3 = first.client("s3")
    s3.create_bucket(Bucket="models")
    s3.upload_file(str(artifacts["v1"]), "models", "v1/model.tar.gz")
    control.stop(home)
    db_path = state_dir(home) / "state.db"
    _write_old_state(db_path)

    second = emulator_factory(home, first.port)
    sagemaker, runtime, cloudwatch = (
        second.client(n) for n in ("sagemaker", "sagemaker-runtime", "cloudwatch")
    )
    waiter = sagemaker.get_waiter("endpoint_in_service")  # restored in the background
    waiter.wait(EndpointName="old-endpoint", WaiterConfig={"Delay": 0.25, "MaxAttempts": 480})
    endpoint = sagemaker.describe_endpoint(EndpointName="old-endpoint")
    assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
    routing = endpoint["LastDeploymentConfig"]["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]
    assert routing["CanarySize"] == {"Type": "INSTANCE_COUNT", "Value": 1}
    answer = runtime.invoke_endpoint(EndpointName="old-endpoint", Body=b"0,0,0,0,0", ContentType="text/csv")
    assert json.loads(answer["Body"].read())["model_version"] == "v1"
    assert sagemaker.describe_model(ModelName="old-model")["PrimaryContainer"]["ModelDataUrl"] == URL
    config = sagemaker.describe_endpoint_config(EndpointConfigName="old-config")
    assert config["ProductionVariants"][0]["VariantName"] == "AllTraffic"

    package = sagemaker.describe_model_package(ModelPackageName=PACKAGE_ARN)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["InferenceSpecification"]["SupportedContentTypes"] == ["text/csv"]
    assert package["CustomerMetadataProperties"] == {"model_version": "v1"}
    assert "ModelPackageStatusDetails" in package
    next_version = sagemaker.create_model_package(
        ModelPackageGroupName="old-group",
        InferenceSpecification={"Containers": [{"Image": "rtinfer-xgboost"}]},
    )["ModelPackageArn"]
    assert next_version.endswith("/old-group/2")  # the group's version counter came along
    job = sagemaker.describe_compilation_job(CompilationJobName="old-job")
    assert job["CompilationJobStatus"] == "COMPLETED"
    assert job["ModelDigests"] == {"ArtifactDigest": "ab" * 32}

    (alarm,) = cloudwatch.describe_alarms(AlarmNames=["old-alarm"])["MetricAlarms"]
    assert alarm["AlarmConfigurationUpdatedTimestamp"].timestamp() == AT  # its state is evaluated anew
    assert (alarm["Threshold"], alarm["Dimensions"][0]["Value"]) == (1, "old-endpoint")
    tables = {row[0] for row in sqlite3.connect(db_path).execute("SELECT name FROM sqlite_master")}
    assert not tables & {"sagemaker", "sagemaker_registry", "sagemaker_compilation", "cw_alarms"}


def test_a_row_that_cannot_be_read_stays_in_the_old_table(tmp_path, caplog):
    db = Database(tmp_path / "state.db")
    db.create_tables("CREATE TABLE old (name TEXT PRIMARY KEY, body TEXT);")
    with db.transaction() as conn:
        conn.executemany("INSERT INTO old VALUES (?, ?)", [("good", '{"n": 1}'), ("bad", "not json")])
    replacement = Replacement(
        "old",
        "new",
        "CREATE TABLE IF NOT EXISTS new (name TEXT PRIMARY KEY, body TEXT);",
        lambda row: (row["name"], json.dumps(json.loads(row["body"]))),
    )
    assert migrate(db, replacement) == 1
    assert [tuple(r) for r in db.query("SELECT * FROM new")] == [("good", '{"n": 1}')]
    assert [r["name"] for r in db.query("SELECT name FROM old")] == ["bad"]
    assert "kept row" in caplog.text
    db.close()
