"""Amazon CloudWatch subset: metrics (PutMetricData, statistics, GetMetricData) and metric alarms."""
