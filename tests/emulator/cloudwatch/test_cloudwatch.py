"""CloudWatch subset: the wire protocol botocore uses, metrics, statistics, alarms, SageMaker metrics."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

NAMESPACE = "Rtinfer/Test"


@pytest.fixture(scope="module")
def cloudwatch(fast_clients):
    return fast_clients["cloudwatch"]


def _error(call) -> tuple[str, str]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["Error"]["Message"]


def test_pinned_botocore_speaks_aws_json_1_0_to_cloudwatch(cloudwatch):
    """botocore 1.44's model lists smithy-rpc-v2-cbor first, yet this botocore resolves to JSON 1.0."""
    assert cloudwatch.meta.service_model.resolved_protocol == "json"
    assert cloudwatch.meta.service_model.signing_name == "monitoring"
    sent = []
    cloudwatch.meta.events.register(
        "before-send.cloudwatch.ListMetrics", lambda request, **_: sent.append(request)
    )
    cloudwatch.list_metrics(Namespace=NAMESPACE)
    headers = sent[0].headers
    assert headers["X-Amz-Target"] == b"GraniteServiceVersion20100801.ListMetrics"
    assert headers["Content-Type"] == b"application/x-amz-json-1.0"


def test_statistics_over_values_counts_and_statistic_sets(cloudwatch):
    # on a minute boundary: CloudWatch aligns periods to the minute, so the first two data fall in one
    start = time.time() // 60 * 60 - 600
    dims = [{"Name": "Model", "Value": "stats"}]

    def datum(offset: float, **value) -> dict:
        metric = {"MetricName": "Latency", "Dimensions": dims, "Unit": "Milliseconds"}
        return {**metric, "Timestamp": start + offset, **value}

    cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            datum(10, Value=10.0),
            datum(20, Values=[20.0, 30.0], Counts=[1, 2]),
            datum(70, StatisticValues={"SampleCount": 4, "Sum": 400, "Minimum": 50, "Maximum": 200}),
        ],
    )
    answer = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE,
        MetricName="Latency",
        Dimensions=dims,
        StartTime=start,
        EndTime=start + 120,
        Period=60,
        Statistics=["Sum", "Average", "Minimum", "Maximum", "SampleCount"],
        ExtendedStatistics=["p50"],
    )
    first, second = sorted(answer["Datapoints"], key=lambda p: p["Timestamp"])
    assert (first["Sum"], first["SampleCount"], first["Minimum"], first["Maximum"]) == (90, 4, 10, 30)
    assert first["Average"] == pytest.approx(22.5)
    assert first["ExtendedStatistics"] == {"p50": 20.0}
    assert first["Unit"] == "Milliseconds"
    assert (second["Sum"], second["SampleCount"], second["Maximum"]) == (400, 4, 200)
    assert "p50" not in second.get("ExtendedStatistics", {})  # a statistic set carries no raw values

    data = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "total",
                "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": "Latency", "Dimensions": dims},
                    "Period": 60,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=start,
        EndTime=start + 120,
    )["MetricDataResults"][0]
    assert data["Values"] == [400, 90]  # newest first, the default ScanBy
    assert data["StatusCode"] == "Complete"

    listed = cloudwatch.list_metrics(Namespace=NAMESPACE, Dimensions=[{"Name": "Model"}])["Metrics"]
    assert {"Namespace": NAMESPACE, "MetricName": "Latency", "Dimensions": dims} in listed


def test_metric_validation(cloudwatch):
    """Bad input gets CloudWatch's modelled errors, so `except client.exceptions.X` catches them."""
    with pytest.raises(cloudwatch.exceptions.InvalidParameterValueException, match="AWS/"):
        cloudwatch.put_metric_data(Namespace="AWS/SageMaker", MetricData=[{"MetricName": "x", "Value": 1}])
    with pytest.raises(cloudwatch.exceptions.InvalidParameterValueException, match="The value 45 for "):
        cloudwatch.put_metric_alarm(
            AlarmName="bad-period", Namespace=NAMESPACE, MetricName="x", Statistic="Sum", Period=45,
            EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
        )  # fmt: skip
    with pytest.raises(cloudwatch.exceptions.InvalidParameterValueException, match="StartTime must be less"):
        cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE, MetricName="x", StartTime=time.time(), EndTime=time.time() - 60,
            Period=60, Statistics=["Sum"],
        )  # fmt: skip
    with pytest.raises(cloudwatch.exceptions.InvalidParameterCombinationException, match="exactly one of"):
        cloudwatch.put_metric_data(
            Namespace=NAMESPACE, MetricData=[{"MetricName": "x", "Value": 1, "Values": [1.0]}]
        )
    with pytest.raises(cloudwatch.exceptions.InvalidParameterCombinationException, match="1,?4[0-9]{2}"):
        cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE, MetricName="x", StartTime=time.time() - 86400, EndTime=time.time(),
            Period=1, Statistics=["Sum"],
        )  # fmt: skip
    with pytest.raises(cloudwatch.exceptions.MissingRequiredParameterException, match="Statistics"):
        cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE, MetricName="x", StartTime=time.time() - 60, EndTime=time.time(), Period=60
        )


def test_large_put_metric_data_arrives_gzipped_and_is_read(cloudwatch):
    """botocore gzips PutMetricData bodies over 10 KiB (the model allows request compression)."""
    sent = []
    cloudwatch.meta.events.register(
        "before-send.cloudwatch.PutMetricData", lambda request, **_: sent.append(request)
    )
    now = time.time()
    data = [
        {"MetricName": "Gzipped", "Dimensions": [{"Name": "Batch", "Value": f"b{i % 3}"}], "Value": 1.0,
         "Timestamp": now - 30}
        for i in range(300)
    ]  # fmt: skip
    cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=data)
    assert sent[-1].headers["Content-Encoding"] == b"gzip"
    answer = cloudwatch.get_metric_statistics(
        Namespace=NAMESPACE, MetricName="Gzipped", Dimensions=[{"Name": "Batch", "Value": "b0"}],
        StartTime=now - 120, EndTime=now + 60, Period=300, Statistics=["SampleCount"],
    )  # fmt: skip
    assert [point["SampleCount"] for point in answer["Datapoints"]] == [100]


def test_datapoints_start_where_cloudwatch_rounds_the_start_time(cloudwatch):
    """A start time less than 15 days old is rounded down to the minute, and periods count from there;
    for periods under a minute, to a multiple of the period."""
    minute = (int(time.time()) // 60 - 3) * 60
    dims = [{"Name": "Case", "Value": "aligned"}]
    cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {"MetricName": "Aligned", "Dimensions": dims, "Value": 1.0, "Timestamp": minute + 40},
            {"MetricName": "Aligned", "Dimensions": dims, "Value": 2.0, "Timestamp": minute + 70},
        ],
    )

    def timestamps(start: float, period: int) -> list[float]:
        answer = cloudwatch.get_metric_statistics(
            Namespace=NAMESPACE, MetricName="Aligned", Dimensions=dims, StartTime=start,
            EndTime=minute + 120, Period=period, Statistics=["Sum"],
        )  # fmt: skip
        return sorted(point["Timestamp"].timestamp() for point in answer["Datapoints"])

    assert timestamps(minute + 35, 60) == [minute, minute + 60]
    assert timestamps(minute + 37, 10) == [minute + 40, minute + 70]
    assert timestamps(minute + 37, 20) == [minute + 40, minute + 60]


def _wait_for_state(cloudwatch, wait_for, name: str, state: str, feed) -> dict:
    """Feed the metric and describe the alarm until it is in `state`."""
    seen: list[dict] = []

    def reached() -> dict | None:
        feed()
        seen.append(cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0])
        return seen[-1] if seen[-1]["StateValue"] == state else None

    def last() -> str:
        return f"alarm {name} in {state} (last: {seen[-1]['StateValue']} {seen[-1]['StateReason']})"

    return wait_for(reached, what=last)


def test_alarm_state_transitions(cloudwatch, wait_for):
    dims = [{"Name": "Queue", "Value": "q1"}]
    cloudwatch.put_metric_alarm(
        AlarmName="depth-high",
        Namespace=NAMESPACE,
        MetricName="Depth",
        Dimensions=dims,
        Statistic="Maximum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanThreshold",
    )
    alarm = cloudwatch.describe_alarms(AlarmNames=["depth-high"])["MetricAlarms"][0]
    assert alarm["StateValue"] == "INSUFFICIENT_DATA"
    assert alarm["AlarmArn"] == "arn:aws:cloudwatch:us-east-1:000000000000:alarm:depth-high"

    def put(value: float):
        return lambda: cloudwatch.put_metric_data(
            Namespace=NAMESPACE, MetricData=[{"MetricName": "Depth", "Dimensions": dims, "Value": value}]
        )

    alarm = _wait_for_state(cloudwatch, wait_for, "depth-high", "ALARM", put(9))
    assert alarm["StateReason"].startswith("Threshold Crossed: 1 out of the last 1 datapoints")
    assert [a["AlarmName"] for a in cloudwatch.describe_alarms(StateValue="ALARM")["MetricAlarms"]] == [
        "depth-high"
    ]
    _wait_for_state(cloudwatch, wait_for, "depth-high", "OK", put(1))

    cloudwatch.set_alarm_state(AlarmName="depth-high", StateValue="ALARM", StateReason="testing the pager")
    alarm = cloudwatch.describe_alarms(AlarmNames=["depth-high"])["MetricAlarms"][0]
    assert (alarm["StateValue"], alarm["StateReason"]) == ("ALARM", "testing the pager")
    # the next evaluation restores the truth
    _wait_for_state(cloudwatch, wait_for, "depth-high", "OK", put(1))

    code, _ = _error(lambda: cloudwatch.set_alarm_state(AlarmName="nope", StateValue="OK", StateReason="x"))
    assert code == "ResourceNotFound"
    cloudwatch.delete_alarms(AlarmNames=["depth-high"])
    assert cloudwatch.describe_alarms(AlarmNames=["depth-high"])["MetricAlarms"] == []


def test_invocations_publish_per_variant_sagemaker_metrics(
    fast_clients, fast_models, cloudwatch, deploy_endpoint, wait_for
):
    sagemaker, runtime = fast_clients["sagemaker"], fast_clients["sagemaker-runtime"]
    deploy_endpoint(
        sagemaker,
        "metered",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": fast_models["healthy"], "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"}
        ],
    )  # fmt: skip
    start = time.time() - 1
    for _ in range(5):
        runtime.invoke_endpoint(EndpointName="metered", Body=b"0,0,0,0,0", ContentType="text/csv")
    with pytest.raises(ClientError):  # the model answers 400: a 4XX and a model error
        runtime.invoke_endpoint(EndpointName="metered", Body=b"0,0", ContentType="text/csv")
    dims = [{"Name": "EndpointName", "Value": "metered"}, {"Name": "VariantName", "Value": "AllTraffic"}]

    def total(metric: str, statistic: str = "Sum") -> float:
        points = cloudwatch.get_metric_statistics(
            Namespace="AWS/SageMaker", MetricName=metric, Dimensions=dims, StartTime=start,
            EndTime=time.time() + 5, Period=60, Statistics=[statistic],
        )["Datapoints"]  # fmt: skip
        return sum(p[statistic] for p in points)

    # aggregated per second, flushed once a second
    wait_for(lambda: total("Invocations") >= 6, what="6 Invocations")
    assert total("Invocations") == 6
    assert total("Invocation4XXErrors") == 1
    assert total("InvocationModelErrors") == 1
    assert total("Invocation5XXErrors") == 0
    assert total("ModelLatency", "SampleCount") == 6
    assert 0 < total("OverheadLatency", "Maximum") < 1e6  # microseconds
    listed = cloudwatch.list_metrics(
        Namespace="AWS/SageMaker", Dimensions=[{"Name": "EndpointName", "Value": "metered"}]
    )
    names = {m["MetricName"] for m in listed["Metrics"]}
    assert names >= {"Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "InvocationModelErrors",
                     "ModelLatency", "OverheadLatency"}  # fmt: skip
