"""serving.faults: RTINFER_FAULT is parsed strictly; a malformed setting is named, never ignored."""

import pytest

from serving.faults import ENV_VAR, Fault, FaultSpecError, fault_from_env, parse_fault


@pytest.mark.parametrize(
    ("spec", "fault"),
    [
        ("", Fault()),
        ("error_rate=1.0", Fault(1.0, 0.0)),
        ("latency_ms=200", Fault(0.0, 0.2)),
        ("error_rate=0.5, latency_ms=20", Fault(0.5, 0.02)),
        (" latency_ms = 5 ,error_rate=0 ,", Fault(0.0, 0.005)),
        ("error_rate=0.1,error_rate=0.3", Fault(0.3, 0.0)),  # the last one wins
    ],
)
def test_parses(spec, fault):
    assert parse_fault(spec) == fault


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("crash=1", "'crash=1' is not error_rate=R or latency_ms=N"),
        ("error_rate", "'error_rate' is not error_rate=R or latency_ms=N"),
        ("garbage", "'garbage' is not error_rate=R or latency_ms=N"),
        ("latency_ms=slow", "latency_ms value 'slow' is not a number"),
        ("error_rate=", "error_rate value '' is not a number"),
        ("error_rate=2", "error_rate=2.0 must be between 0 and 1"),
        ("error_rate=-0.1", "error_rate=-0.1 must be between 0 and 1"),
        ("error_rate=nan", "error_rate=nan must be between 0 and 1"),
        ("latency_ms=-5", "latency_ms=-5.0 must not be negative"),
    ],
)
def test_rejects_garbage_naming_the_setting(spec, message):
    with pytest.raises(FaultSpecError) as raised:
        parse_fault(spec)
    assert str(raised.value) == f"{ENV_VAR}: {message}"


def test_fails_now_follows_the_rate():
    assert not any(Fault(error_rate=0.0).fails_now() for _ in range(1000))
    assert all(Fault(error_rate=1.0).fails_now() for _ in range(1000))


def test_read_from_the_environment(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert fault_from_env() == Fault()
    monkeypatch.setenv(ENV_VAR, "latency_ms=50")
    assert fault_from_env() == Fault(latency_s=0.05)
    monkeypatch.setenv(ENV_VAR, "latency=50")
    with pytest.raises(FaultSpecError, match="'latency=50'"):
        fault_from_env()
