"""CloudWatch over the protocol the pinned botocore sends: AWS JSON 1.0, X-Amz-Target
`GraniteServiceVersion20100801.<Operation>`, signed as service `monitoring`.

botocore 1.44's model lists smithy-rpc-v2-cbor first but this botocore resolves to `json` (see
tests/emulator/test_cloudwatch.py, which pins it down).
"""

from __future__ import annotations

from emulator.cloudwatch.backend import CloudWatchBackend
from emulator.protocol.json_rpc import JsonDispatcher

TARGET_PREFIX = "GraniteServiceVersion20100801"


def build_cloudwatch_api(backend: CloudWatchBackend) -> JsonDispatcher:
    api = JsonDispatcher(TARGET_PREFIX, json_version="1.0")
    alarms = backend.alarms
    api.operation("PutMetricData")(backend.put_metric_data)
    api.operation("GetMetricStatistics")(backend.get_metric_statistics)
    api.operation("GetMetricData")(backend.get_metric_data)
    api.operation("ListMetrics")(backend.list_metrics)
    api.operation("PutMetricAlarm")(lambda p: alarms.put(p) or {})
    api.operation("DescribeAlarms")(backend.describe_alarms)
    api.operation("DeleteAlarms")(lambda p: alarms.delete(p.get("AlarmNames") or []) or {})
    api.operation("SetAlarmState")(
        lambda p: (
            alarms.set_state(
                p.get("AlarmName", ""),
                p.get("StateValue"),
                p.get("StateReason", ""),
                p.get("StateReasonData"),
            )
            or {}
        )
    )
    return api
