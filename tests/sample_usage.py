"""A small Usage for the cost tests: `n` predictions, nothing counted but what a test sets."""

from __future__ import annotations

from orchestration.monitoring.cost import StreamUsage, Usage, VariantUsage


def sample_usage(n: float, window_s: float, **counted) -> Usage:
    fields = {
        "window_s": window_s,
        "predictions": n,
        "streams": (StreamUsage("in", 1, n, n * 300),),
        "variants": (VariantUsage("AllTraffic", "ml.m5.large", 1, 1.0),),
        "function_memory_mb": 512,
        "function_architecture": "x86_64",
        "lambda_requests": n,
        "lambda_duration_ms": n * 5,
        "dynamodb_read_units": n,
        "dynamodb_write_units": n,
        "s3_put_requests": 0.0,
        "s3_get_requests": 0.0,
        "s3_stored_bytes": 0.0,
        "sqs_requests": 0.0,
        "cloudwatch_metrics": 6,
        "log_bytes": 0.0,
    }
    return Usage(**{**fields, **counted})
