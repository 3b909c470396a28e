"""The Lambda entry point: `serving.consumer.handler.lambda_handler`.

Powertools does the Lambda plumbing: structured logs, EMF metrics, and the partial-batch response
(batchItemFailures with each failed record's sequence number exactly as it came in the event).
The batch work itself is serving.consumer.pipeline.process_batch.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord

from serving.consumer.circuit_breaker import CircuitBreaker
from serving.consumer.clients import clients
from serving.consumer.config import ConsumerConfig
from serving.consumer.pipeline import process_batch
from serving.consumer.scoring import EndpointScorer

logger = Logger(service="fraud-consumer")
metrics = Metrics(namespace="rtinfer", service="fraud-consumer")

# Per execution environment: configuration is read and the breaker lives across invocations.
CONFIG = ConsumerConfig.from_env()
BREAKER = CircuitBreaker(CONFIG.circuit_failure_threshold, CONFIG.circuit_cooldown_s)


class RecordNotPersisted(Exception):
    """The record's outcome could not be written; Lambda redelivers it."""


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
    outcome = process_batch(records, CONFIG, clients(), scorer)

    def record_handler(record: KinesisStreamRecord) -> None:
        if record.kinesis.sequence_number in outcome.failed_sequences:
            raise RecordNotPersisted(record.kinesis.sequence_number)

    processor = BatchProcessor(event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False)
    response = process_partial_response(event, record_handler, processor, context)

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
