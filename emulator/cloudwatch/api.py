"""CloudWatch over the protocol the pinned botocore sends: AWS JSON 1.0, X-Amz-Target
`GraniteServiceVersion20100801.<Operation>`, signed as service `monitoring`.

botocore 1.44's model lists smithy-rpc-v2-cbor first but this botocore resolves to `json` (see
tests/emulator/cloudwatch/test_cloudwatch.py, which pins it down). Requests are parsed in
emulator.cloudwatch.requests; this module renders the backend's answers.
"""

from __future__ import annotations

import time

from starlette.responses import Response

from emulator.cloudwatch.alarms import Alarm
from emulator.cloudwatch.backend import CloudWatchBackend
from emulator.cloudwatch.metrics import Dimensions, MetricId
from emulator.cloudwatch.requests import (
    Params,
    check_state,
    parse_alarm,
    parse_data_queries,
    parse_metric_data,
    parse_statistics_query,
)
from emulator.cloudwatch.statistics import is_percentile
from emulator.protocol.body import BodyLimit
from emulator.protocol.errors import AwsError
from emulator.protocol.json_rpc import MIB, JsonDispatcher, request_entity_too_large
from emulator.protocol.pagination import paginate
from emulator.protocol.shapes import STANDARD_ERRORS, Path, RequestShapes, ShapeErrors

TARGET_PREFIX = "GraniteServiceVersion20100801"


def _missing_parameter(path: Path) -> AwsError:
    return AwsError("MissingParameter", f"The parameter {'.'.join(map(str, path))} is required.")


CLOUDWATCH_ERRORS = ShapeErrors(STANDARD_ERRORS.wrong_type, _missing_parameter)


class QueryCompatibleDispatcher(JsonDispatcher):
    """CloudWatch moved from the query protocol to JSON keeping its query error codes: an error also
    names its code in `x-amzn-query-error: <code>;<Sender|Receiver>`, which SDKs read first."""

    def error_response(self, err: AwsError) -> Response:
        response = super().error_response(err)
        response.headers["x-amzn-query-error"] = f"{err.code};{'Receiver' if err.status >= 500 else 'Sender'}"
        return response


def _dimensions(dimensions: Dimensions) -> list[Params]:
    return [{"Name": name, "Value": value} for name, value in dimensions]


def _metric(metric: MetricId) -> Params:
    return {
        "Namespace": metric.namespace,
        "MetricName": metric.name,
        "Dimensions": _dimensions(metric.dimensions),
    }


def _alarm(alarm: Alarm) -> Params:
    definition = alarm.definition
    statistic_key = "ExtendedStatistic" if is_percentile(definition.statistic) else "Statistic"
    rendered: Params = {
        "AlarmName": definition.name,
        "AlarmArn": alarm.arn,
        "AlarmConfigurationUpdatedTimestamp": alarm.configuration_updated,
        "ActionsEnabled": definition.actions_enabled,
        "OKActions": list(definition.ok_actions),
        "AlarmActions": list(definition.alarm_actions),
        "InsufficientDataActions": list(definition.insufficient_data_actions),
        "StateValue": alarm.state,
        "StateReason": alarm.state_reason,
        "StateUpdatedTimestamp": alarm.state_updated,
        "StateTransitionedTimestamp": alarm.state_transitioned,
        **_metric(definition.metric),
        statistic_key: definition.statistic,
        "Period": definition.period,
        "EvaluationPeriods": definition.evaluation_periods,
        "DatapointsToAlarm": definition.datapoints_to_alarm,
        "Threshold": definition.threshold,
        "ComparisonOperator": definition.comparison,
        "TreatMissingData": definition.treat_missing,
    }
    optional = {
        "AlarmDescription": definition.description,
        "Unit": definition.unit,
        "StateReasonData": alarm.state_reason_data,
    }
    return rendered | {key: value for key, value in optional.items() if value is not None}


def build_cloudwatch_api(backend: CloudWatchBackend) -> JsonDispatcher:
    # "Each PutMetricData request is limited to 1 MB in size for HTTP POST requests"
    limit = BodyLimit(MIB, request_entity_too_large(MIB))
    api = QueryCompatibleDispatcher(
        TARGET_PREFIX, "1.0", RequestShapes("cloudwatch", CLOUDWATCH_ERRORS), limit
    )
    alarms = backend.alarms

    @api.operation("PutMetricData")
    def put_metric_data(params: Params) -> Params:
        backend.put_metric_data(parse_metric_data(params, time.time()))
        return {}

    @api.operation("GetMetricStatistics")
    def get_metric_statistics(params: Params) -> Params:
        query = parse_statistics_query(params, time.time())
        points = backend.statistics(
            query.metric, query.unit, query.start, query.end, query.period, query.statistics + query.extended
        )
        datapoints = []
        for point in points:
            datapoint: Params = {"Timestamp": point.timestamp, "Unit": point.unit}
            datapoint.update((name, point.values[name]) for name in query.statistics if name in point.values)
            if query.extended:
                datapoint["ExtendedStatistics"] = {
                    name: point.values[name] for name in query.extended if name in point.values
                }
            datapoints.append(datapoint)
        return {"Label": query.metric.name, "Datapoints": datapoints}

    @api.operation("GetMetricData")
    def get_metric_data(params: Params) -> Params:
        queries, start, end = parse_data_queries(params, time.time())
        newest_first = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
        results = []
        for query in queries:
            if not query.return_data:
                continue
            points = backend.series(
                query.metric, query.unit, start, end, query.period, query.statistic, newest_first
            )
            results.append(
                {
                    "Id": query.id,
                    "Label": query.label,
                    "Timestamps": [at for at, _ in points],
                    "Values": [value for _, value in points],
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": results, "Messages": []}

    @api.operation("ListMetrics")
    def list_metrics(params: Params) -> Params:
        wanted = [(d["Name"], d.get("Value")) for d in params.get("Dimensions") or []]
        metrics = backend.list_metrics(params.get("Namespace"), params.get("MetricName"), wanted)
        return {"Metrics": [_metric(m) for m in metrics]}

    @api.operation("PutMetricAlarm")
    def put_metric_alarm(params: Params) -> Params:
        alarms.put(parse_alarm(params))
        return {}

    @api.operation("DescribeAlarms")
    def describe_alarms(params: Params) -> Params:
        state = params.get("StateValue")
        found = alarms.describe(
            params.get("AlarmNames") or [],
            params.get("AlarmNamePrefix"),
            None if state is None else check_state(state),
        )
        limit = int(params.get("MaxRecords") or 50)
        page = paginate([_alarm(a) for a in found], "MetricAlarms", params.get("NextToken"), limit)
        return {**page, "CompositeAlarms": []}

    @api.operation("DeleteAlarms")
    def delete_alarms(params: Params) -> Params:
        alarms.delete(params.get("AlarmNames") or [])
        return {}

    @api.operation("SetAlarmState")
    def set_alarm_state(params: Params) -> Params:
        alarms.set_state(
            params.get("AlarmName", ""),
            check_state(params.get("StateValue")),
            params.get("StateReason", ""),
            params.get("StateReasonData"),
        )
        return {}

    return api
