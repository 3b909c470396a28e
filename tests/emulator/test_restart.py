"""Stop and start the emulator on the same home: every resource survives and endpoints serve again."""

from __future__ import annotations

import json

from emulator import control


def test_state_survives_a_restart(tmp_path, emulator_factory, artifacts, deploy_artifact):
    home = tmp_path / "home"
    first = emulator_factory(home)
    s3, sagemaker = first.client("s3"), first.client("sagemaker")
    s3.create_bucket(Bucket="persist")
    s3.put_object(Bucket="persist", Key="notes/a.txt", Body=b"kept")
    deploy_artifact(s3, sagemaker, artifacts["v1"], "persist")
    assert control.status(home, first.port)["running"]

    assert control.stop(home)
    assert not control.status(home, first.port)["running"]
    second = emulator_factory(home, first.port)
    assert second.pid != first.pid
    s3, sagemaker, runtime = (
        second.client("s3"),
        second.client("sagemaker"),
        second.client("sagemaker-runtime"),
    )

    assert s3.get_object(Bucket="persist", Key="notes/a.txt")["Body"].read() == b"kept"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="persist")["Contents"]] == [
        "model.tar.gz",
        "notes/a.txt",
    ]
    assert (
        sagemaker.describe_model(ModelName="m")["PrimaryContainer"]["ModelDataUrl"]
        == "s3://persist/model.tar.gz"
    )
    assert (
        sagemaker.describe_endpoint_config(EndpointConfigName="e-config")["ProductionVariants"][0][
            "VariantName"
        ]
        == "only"
    )
    # the emulator answers at once and brings its endpoints back in the background
    sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName="e", WaiterConfig={"Delay": 0.25, "MaxAttempts": 480}
    )
    answer = runtime.invoke_endpoint(EndpointName="e", Body="1,2,3,4,5", ContentType="text/csv")
    assert json.loads(answer["Body"].read())["model_version"] == "v1"
