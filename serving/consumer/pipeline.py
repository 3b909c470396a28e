"""One Kinesis batch, start to finish: decode → features → score → state → sinks → audit object.

Plain functions over injected clients, so the same code runs under the Lambda handler and in tests.
The result says, for every record, whether its outcome was durably written; records that were not
are reported back to Lambda as batch item failures and redelivered.

Lambda checkpoints below the lowest failed record and redelivers it and everything after it, so the
audit object is written last and holds only the predictions before that record: the later ones come
again in the retried batch, whose object (keyed by its own first record) holds them, and no record
is in two objects.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from serving.consumer.audit import write_batch
from serving.consumer.config import ConsumerConfig
from serving.consumer.decode import Rejected, StreamPosition, decode_record, undecidable
from serving.consumer.fallback import FALLBACK_MODEL_VERSION, fallback_decision
from serving.consumer.scoring import EndpointScorer, Scored
from serving.consumer.sinks import publish_predictions, send_dead_letters
from serving.consumer.state_store import DynamoFeatureStore
from serving.consumer.terminal_cache import TerminalCache
from serving.features import FEATURE_NAMES, MS_PER_DAY, online_features, update_customer, update_terminal
from serving.schemas import TransactionEvent

_DEVICE_SEEN = FEATURE_NAMES.index("device_seen_before")
_SINK_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sink")


@dataclass
class BatchOutcome:
    records_in: int = 0
    predictions: int = 0
    fallbacks: int = 0
    dead_lettered: int = 0
    failed_sequences: set[str] = field(default_factory=set)
    end_to_end_ms: list[float] = field(default_factory=list)
    variants: Counter = field(default_factory=Counter)


def _dead_letter(position: StreamPosition, payload: str, reason: str) -> dict:
    return {
        "reason": reason,
        "payload": payload,
        "shard_id": position.shard_id,
        "sequence_number": position.sequence_number,
        "sub_sequence_number": position.sub_sequence_number,
        "partition_key": position.partition_key,
        "event_source_arn": position.event_source_arn,
    }


def _prediction(event: TransactionEvent, position: StreamPosition, now_ms: int, **outcome) -> dict:
    return {
        "request_id": event.request_id,
        "customer_id": event.customer_id,
        "terminal_id": event.terminal_id,
        "amount": event.amount,
        "event_ms": event.timestamp_ms,
        "arrival_ms": position.arrival_ms,
        "predicted_ms": now_ms,
        "latency_ms": now_ms - position.arrival_ms,
        "shard_id": position.shard_id,
        "sequence_number": position.sequence_number,
        "sub_sequence_number": position.sub_sequence_number,
        **outcome,
    }


def _featurize(events: list[tuple[int, TransactionEvent]], store: DynamoFeatureStore):
    """Feature vectors in stream order, plus the state changes to persist. An event whose features
    cannot be computed is left out (index -> reason in `undecided`) and changes no state."""
    state = store.load(
        {e.customer_id for _, e in events},
        {e.terminal_id for _, e in events},
        through_day=max(e.timestamp_ms for _, e in events) // MS_PER_DAY,
    )
    decided, vectors, undecided, increments = [], [], {}, defaultdict(Counter)
    for index, event in events:
        damage = state.damage_of(event.customer_id, event.terminal_id)
        if damage is not None:
            undecided[index] = damage
            continue
        customer = state.customers[event.customer_id]
        terminal = state.terminals[event.terminal_id]
        try:
            vector = online_features(event, customer.state, terminal)
        except Exception as error:  # one record must never fail its batch
            undecided[index] = undecidable(error)
            continue
        decided.append((index, event))
        vectors.append(vector)
        if (
            customer.applied_through is None
            or (event.timestamp_ms, event.request_id) > customer.applied_through
        ):
            # A replayed event is already in the stored state: folding it in again would count it twice.
            update_customer(customer.state, event)
            update_terminal(terminal, event.timestamp_ms)
            customer.applied_through = (event.timestamp_ms, event.request_id)
            increments[event.terminal_id][event.timestamp_ms // MS_PER_DAY] += 1
    return decided, vectors, undecided, state, increments


def _first_occurrences(
    decoded: list[tuple[int, TransactionEvent]], positions: list[StreamPosition]
) -> tuple[list[tuple[int, TransactionEvent]], dict[int, str]]:
    """The events whose request id is new in this batch, and index -> reason for the repeats (what a
    retrying producer sends): the first occurrence is decided, the others are dead-lettered as
    duplicates of it, so each record still ends in exactly one place."""
    first_at: dict[str, int] = {}
    firsts, repeats = [], {}
    for index, event in decoded:
        seen = first_at.setdefault(event.request_id, index)
        if seen == index:
            firsts.append((index, event))
        else:
            repeats[index] = (
                f"duplicate: request_id {event.request_id!r} is already in this batch at "
                f"{positions[seen].describe()}"
            )
    return firsts, repeats


def process_batch(
    records: list[dict],
    config: ConsumerConfig,
    clients,
    scorer: EndpointScorer,
    now_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    terminals: TerminalCache | None = None,  # the execution environment's; None reads every terminal
) -> BatchOutcome:
    # One entry per user record (a KPL aggregate holds several); failures are reported per Kinesis
    # record, so a failed user record has its whole aggregate redelivered.
    positions: list[StreamPosition] = []
    letters: list[dict] = []
    decoded: list[tuple[int, TransactionEvent]] = []
    arrived_ms = now_ms()
    for record in records:
        for position, event in decode_record(record, arrived_ms, config.max_clock_skew_ms):
            if isinstance(event, Rejected):
                letters.append(_dead_letter(position, event.payload, event.reason))
            else:
                decoded.append((len(positions), event))
            positions.append(position)
    outcome = BatchOutcome(records_in=len(positions))
    events, repeats = _first_occurrences(decoded, positions)

    store = DynamoFeatureStore(clients.dynamodb, config.feature_state_table, terminal_cache=terminals)
    events, vectors, undecided, state, increments = (
        _featurize(events, store) if events else ([], [], {}, None, {})
    )
    for index, event in decoded:
        reason = repeats.get(index) or undecided.get(index)
        if reason is not None:
            letters.append(_dead_letter(positions[index], _event_text(event), reason))
    results = scorer.score(vectors) if vectors else []
    stamp = now_ms()

    predictions: list[dict] = []
    sequence_of: dict[str, str] = {}
    for (index, event), vector, result in zip(events, vectors, results, strict=True):
        position = positions[index]
        if isinstance(result, Scored):
            decision = "decline" if result.score >= result.threshold else "approve"
            predictions.append(
                _prediction(
                    event,
                    position,
                    stamp,
                    score=result.score,
                    decision=decision,
                    threshold=result.threshold,
                    model_version=result.model_version,
                    variant=result.variant,
                    fallback=False,
                    fallback_reason=None,
                    inference_id=result.inference_id,
                    inference_row=result.inference_row,
                )
            )
            outcome.variants[result.variant] += 1
        elif result.kind == "unavailable":
            score, decision = fallback_decision(
                event, vector[_DEVICE_SEEN] == 1.0, config.fallback_amount, config.fallback_distance_km
            )
            predictions.append(
                _prediction(
                    event,
                    position,
                    stamp,
                    score=score,
                    decision=decision,
                    threshold=None,
                    model_version=FALLBACK_MODEL_VERSION,
                    variant=None,
                    fallback=True,
                    fallback_reason=result.reason,
                )
            )
            outcome.fallbacks += 1
        else:
            letters.append(_dead_letter(position, _event_text(event), result.reason))
            continue
        sequence_of[event.request_id] = position.sequence_number

    # The four writes are independent: run them side by side.
    writes = {
        "published": _SINK_POOL.submit(
            publish_predictions, clients.kinesis, config.output_stream, predictions
        ),
        "letters": _SINK_POOL.submit(send_dead_letters, clients.sqs, clients.s3, config.dlq, letters),
    }
    if state is not None:
        writes["customers"] = _SINK_POOL.submit(store.save_customers, state.customers)
        writes["terminals"] = _SINK_POOL.submit(store.add_terminal_counts, increments, state.terminals)
    failed_customers = set(writes["customers"].result()) if "customers" in writes else set()
    failed_terminals = set(writes["terminals"].result()) if "terminals" in writes else set()
    failed = {
        positions[index].sequence_number
        for index, event in events
        if event.customer_id in failed_customers or event.terminal_id in failed_terminals
    }
    failed |= {sequence_of[request_id] for request_id in writes["published"].result()}
    failed |= writes["letters"].result()
    failed |= _write_audit(
        clients.s3, config.audit_bucket, positions[0] if records else None, predictions, failed
    )

    outcome.failed_sequences = failed
    outcome.predictions = len(predictions) - outcome.fallbacks
    outcome.dead_lettered = len(letters)
    outcome.end_to_end_ms = [p["latency_ms"] for p in predictions if p["sequence_number"] not in failed]
    return outcome


def _write_audit(
    s3, bucket: str, first: StreamPosition | None, predictions: list[dict], failed: set[str]
) -> set[str]:
    """Write the audit object of the predictions before the lowest failed record; return the sequence
    numbers of the predictions it does not hold (all of them when it could not be written)."""
    lowest = min(map(int, failed), default=None)
    kept = [p for p in predictions if lowest is None or int(p["sequence_number"]) < lowest]
    if first is None or not write_batch(s3, bucket, first, kept):
        kept = []
    held = {p["sequence_number"] for p in kept}
    return {p["sequence_number"] for p in predictions} - held


def _event_text(event: TransactionEvent) -> str:
    return json.dumps(event.to_dict())
