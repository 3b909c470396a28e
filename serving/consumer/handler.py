"""The Lambda entry point: `serving.consumer.handler.lambda_handler`.

Powertools does the Lambda plumbing: structured logs and EMF metrics. The partial-batch response
(batchItemFailures: each failed Kinesis record's sequence number exactly as it came in the event, in
event order) is built here from the batch's outcome: Powertools' batch processor would wrap every
record in a data class and call a handler per record only to ask the same question.
The batch work itself is serving.consumer.pipeline.process_batch.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from serving.consumer.circuit_breaker import CircuitBreaker
from serving.consumer.clients import clients
from serving.consumer.config import ConsumerConfig
from serving.consumer.pipeline import process_batch
from serving.consumer.scoring import EndpointScorer
from serving.consumer.terminal_cache import TerminalCache

logger = Logger(service="fraud-consumer")
metrics = Metrics(namespace="rtinfer", service="fraud-consumer")

# Per execution environment: configuration is read, and the breaker and the terminals' counts live
# across invocations.
CONFIG = ConsumerConfig.from_env()
BREAKER = CircuitBreaker(CONFIG.circuit_failure_threshold, CONFIG.circuit_cooldown_s)
TERMINALS = TerminalCache(CONFIG.terminal_state_max_age_s, CONFIG.terminal_cache_entries)


@metrics.log_metrics
@logger.inject_lambda_context
def lambda_handler(event: dict, context) -> dict:
    records = event.get("Records", [])
    scorer = EndpointScorer(
        clients().runtime,
        CONFIG.endpoint_name,
        BREAKER,
        CONFIG.max_rows_per_invoke,
        CONFIG.max_invoke_bytes,
        CONFIG.invoke_attempts,
        time_left_s=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    outcome = process_batch(records, CONFIG, clients(), scorer, terminals=TERMINALS)
    failed = outcome.failed_sequences
    response = {
        "batchItemFailures": [
            {"itemIdentifier": sequence}
            for sequence in (record["kinesis"]["sequenceNumber"] for record in records)
            if sequence in failed
        ]
    }

    metrics.add_metric("RecordsIn", MetricUnit.Count, outcome.records_in)
    metrics.add_metric("Predictions", MetricUnit.Count, outcome.predictions)
    metrics.add_metric("Fallbacks", MetricUnit.Count, outcome.fallbacks)
    metrics.add_metric("DeadLettered", MetricUnit.Count, outcome.dead_lettered)
    metrics.add_metric("RecordsNotPersisted", MetricUnit.Count, len(outcome.failed_sequences))
    if outcome.end_to_end_ms:
        metrics.add_metric("EndToEndLatencyMaxMs", MetricUnit.Milliseconds, max(outcome.end_to_end_ms))
    logger.info(
        "batch done",
        records_in=outcome.records_in,
        predictions=outcome.predictions,
        fallbacks=outcome.fallbacks,
        dead_lettered=outcome.dead_lettered,
        failed=len(outcome.failed_sequences),
        circuit=BREAKER.state,
        variants=dict(outcome.variants),
    )
    return response
