"""serving.consumer.config: settings read from the function's environment; a bad one is named."""

import pytest

from serving.consumer.claim_check import DeadLetterTarget
from serving.consumer.config import MAX_INVOKE_BYTES, ConfigurationError, ConsumerConfig

REQUIRED = {
    "ENDPOINT_NAME": "fraud",
    "AUDIT_BUCKET": "audit",
    "FEATURE_STATE_TABLE": "state",
    "OUTPUT_STREAM": "out",
    "DEAD_LETTER_QUEUE_URL": "http://127.0.0.1:1/000000000000/dlq",
    "DEAD_LETTER_BUCKET": "dead-letters",
}
OPTIONAL = (
    "MAX_ROWS_PER_INVOKE",
    "MAX_INVOKE_BYTES",
    "INVOKE_ATTEMPTS",
    "CIRCUIT_FAILURE_THRESHOLD",
    "CIRCUIT_COOLDOWN_SECONDS",
    "FALLBACK_REVIEW_AMOUNT",
    "FALLBACK_REVIEW_DISTANCE_KM",
    "DEAD_LETTER_MAX_INLINE_BYTES",
    "TERMINAL_STATE_MAX_AGE_SECONDS",
    "TERMINAL_CACHE_ENTRIES",
)


@pytest.fixture
def env(monkeypatch):
    for name in OPTIONAL:
        monkeypatch.delenv(name, raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_defaults(env):
    config = ConsumerConfig.from_env()
    assert config.endpoint_name == "fraud"
    assert config.dead_letter_queue_url == REQUIRED["DEAD_LETTER_QUEUE_URL"]
    assert (config.max_rows_per_invoke, config.invoke_attempts) == (200, 4)
    assert config.circuit_failure_threshold == 3
    assert config.circuit_cooldown_s == 5.0
    assert config.max_invoke_bytes < MAX_INVOKE_BYTES  # headroom under SageMaker's 6 MiB body limit
    assert (config.fallback_amount, config.fallback_distance_km) == (500.0, 50.0)
    assert (config.terminal_state_max_age_s, config.terminal_cache_entries) == (60.0, 20_000)
    # letters whose SQS message would pass 256 KiB (SQS's limit) keep their body in the bucket
    assert config.dlq == DeadLetterTarget(REQUIRED["DEAD_LETTER_QUEUE_URL"], "dead-letters", 262_144)


def test_settings_are_read_and_converted(env):
    env.setenv("MAX_ROWS_PER_INVOKE", "25")
    env.setenv("CIRCUIT_COOLDOWN_SECONDS", " 0.5 ")
    env.setenv("FALLBACK_REVIEW_AMOUNT", "")  # empty means the default
    config = ConsumerConfig.from_env()
    assert (config.max_rows_per_invoke, config.circuit_cooldown_s, config.fallback_amount) == (25, 0.5, 500.0)
    env.setenv("DEAD_LETTER_MAX_INLINE_BYTES", "65536")
    assert ConsumerConfig.from_env().dlq.max_inline_bytes == 65536


@pytest.mark.parametrize("name", sorted(REQUIRED))
@pytest.mark.parametrize("value", [None, "", "   "])
def test_a_missing_required_setting_is_named(env, name, value):
    if value is None:
        env.delenv(name)
    else:
        env.setenv(name, value)
    with pytest.raises(ConfigurationError, match=f"environment variable {name} is required"):
        ConsumerConfig.from_env()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("INVOKE_ATTEMPTS", "four", "INVOKE_ATTEMPTS must be a number, got 'four'"),
        ("INVOKE_ATTEMPTS", "0", "INVOKE_ATTEMPTS must be between 1 and 20, got 0.0"),
        ("MAX_ROWS_PER_INVOKE", "10001", "MAX_ROWS_PER_INVOKE must be between 1 and 10000"),
        ("MAX_INVOKE_BYTES", "7e6", f"MAX_INVOKE_BYTES must be between 1024 and {MAX_INVOKE_BYTES}"),
        ("CIRCUIT_COOLDOWN_SECONDS", "0", "CIRCUIT_COOLDOWN_SECONDS must be between 0.1 and 3600"),
        ("FALLBACK_REVIEW_AMOUNT", "-1", "FALLBACK_REVIEW_AMOUNT must be between 0"),
        (
            "DEAD_LETTER_MAX_INLINE_BYTES",
            "300000",
            "DEAD_LETTER_MAX_INLINE_BYTES must be between 4096 and 262144",
        ),
        (
            "TERMINAL_STATE_MAX_AGE_SECONDS",
            "-1",
            "TERMINAL_STATE_MAX_AGE_SECONDS must be between 0 and 3600, got -1.0",
        ),
        ("CIRCUIT_FAILURE_THRESHOLD", "nan", "CIRCUIT_FAILURE_THRESHOLD must be between 1 and 1000, got nan"),
    ],
)
def test_a_bad_number_is_named_with_its_value(env, name, value, message):
    env.setenv(name, value)
    with pytest.raises(ConfigurationError) as raised:
        ConsumerConfig.from_env()
    assert message in str(raised.value)
