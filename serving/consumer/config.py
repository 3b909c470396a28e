"""The consumer's settings, read once per execution environment from the function's environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from serving.consumer.claim_check import MIN_INLINE_BYTES, SQS_MAX_MESSAGE_BYTES, DeadLetterTarget
from serving.schemas import DEFAULT_MAX_CLOCK_SKEW_MS

MAX_INVOKE_BYTES = 6 * 1024 * 1024  # SageMaker's InvokeEndpoint body limit


class ConfigurationError(RuntimeError):
    """The function was deployed without a setting it needs; the message names the variable."""


def _required(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {name} is required")
    return value


def _number(name: str, default: float, low: float, high: float) -> float:
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {text!r}") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high}, got {value}")
    return value


@dataclass(frozen=True)
class ConsumerConfig:
    endpoint_name: str
    audit_bucket: str  # one object of predictions per batch (serving/consumer/audit.py)
    feature_state_table: str
    output_stream: str
    dead_letter_queue_url: str
    dead_letter_bucket: str  # claim-checked letters: those whose SQS message would exceed the limit below
    dead_letter_max_inline_bytes: int
    max_rows_per_invoke: int
    max_invoke_bytes: int
    invoke_attempts: int
    circuit_failure_threshold: int
    circuit_cooldown_s: float
    fallback_amount: float
    fallback_distance_km: float
    max_clock_skew_ms: int = DEFAULT_MAX_CLOCK_SKEW_MS
    # How stale a terminal's past-day counts may be in features (serving/consumer/terminal_cache.py).
    terminal_state_max_age_s: float = 60.0
    terminal_cache_entries: int = 20_000

    @classmethod
    def from_env(cls) -> ConsumerConfig:
        return cls(
            endpoint_name=_required("ENDPOINT_NAME"),
            audit_bucket=_required("AUDIT_BUCKET"),
            feature_state_table=_required("FEATURE_STATE_TABLE"),
            output_stream=_required("OUTPUT_STREAM"),
            dead_letter_queue_url=_required("DEAD_LETTER_QUEUE_URL"),
            dead_letter_bucket=_required("DEAD_LETTER_BUCKET"),
            dead_letter_max_inline_bytes=int(
                _number(
                    "DEAD_LETTER_MAX_INLINE_BYTES",
                    SQS_MAX_MESSAGE_BYTES,
                    MIN_INLINE_BYTES,
                    SQS_MAX_MESSAGE_BYTES,
                )
            ),
            max_rows_per_invoke=int(_number("MAX_ROWS_PER_INVOKE", 200, 1, 10_000)),
            max_invoke_bytes=int(
                _number("MAX_INVOKE_BYTES", MAX_INVOKE_BYTES - 64 * 1024, 1024, MAX_INVOKE_BYTES)
            ),
            invoke_attempts=int(_number("INVOKE_ATTEMPTS", 4, 1, 20)),
            circuit_failure_threshold=int(_number("CIRCUIT_FAILURE_THRESHOLD", 3, 1, 1000)),
            circuit_cooldown_s=_number("CIRCUIT_COOLDOWN_SECONDS", 5.0, 0.1, 3600),
            fallback_amount=_number("FALLBACK_REVIEW_AMOUNT", 500.0, 0, 1e9),
            fallback_distance_km=_number("FALLBACK_REVIEW_DISTANCE_KM", 50.0, 0, 1e6),
            max_clock_skew_ms=int(
                1000 * _number("MAX_CLOCK_SKEW_SECONDS", DEFAULT_MAX_CLOCK_SKEW_MS / 1000, 0, 86_400)
            ),
            terminal_state_max_age_s=_number("TERMINAL_STATE_MAX_AGE_SECONDS", 60.0, 0, 3600),
            terminal_cache_entries=int(_number("TERMINAL_CACHE_ENTRIES", 20_000, 0, 1_000_000)),
        )

    @property
    def dlq(self) -> DeadLetterTarget:
        """Where the dead letters go: the queue, the claim-check bucket, the inline limit."""
        return DeadLetterTarget(
            self.dead_letter_queue_url, self.dead_letter_bucket, self.dead_letter_max_inline_bytes
        )
