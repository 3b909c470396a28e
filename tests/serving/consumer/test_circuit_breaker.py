"""serving.consumer.circuit_breaker: open after N consecutive failures, half-open after the cool-down, one
probe decides. Time is an injected clock, so no test waits for a cool-down."""

from serving.consumer.circuit_breaker import CircuitBreaker


def test_opens_after_threshold_consecutive_failures(clock):
    breaker = CircuitBreaker(3, 5.0, clock)
    for _ in range(2):
        breaker.record_failure()
        assert (breaker.state, breaker.allow()) == ("CLOSED", True)
    breaker.record_failure()
    assert (breaker.state, breaker.allow()) == ("OPEN", False)


def test_a_success_resets_the_failure_count(clock):
    breaker = CircuitBreaker(3, 5.0, clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state == "CLOSED"  # two failures since the success, not four


def test_half_opens_exactly_when_the_cooldown_has_passed(clock):
    breaker = CircuitBreaker(1, 5.0, clock)
    breaker.record_failure()
    clock.advance(4.999)
    assert (breaker.state, breaker.allow()) == ("OPEN", False)
    clock.advance(0.001)
    assert (breaker.state, breaker.allow()) == ("HALF_OPEN", True)


def test_a_good_probe_closes_it(clock):
    breaker = CircuitBreaker(2, 5.0, clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.advance(5.0)
    breaker.record_success()
    assert breaker.state == "CLOSED"
    breaker.record_failure()
    assert breaker.state == "CLOSED"  # the count started again from zero


def test_a_failed_probe_reopens_for_a_full_cooldown(clock):
    breaker = CircuitBreaker(3, 5.0, clock)
    for _ in range(3):
        breaker.record_failure()
    clock.advance(60.0)
    assert breaker.state == "HALF_OPEN"
    breaker.record_failure()  # one failed probe is enough, whatever the threshold
    assert breaker.state == "OPEN"
    clock.advance(4.9)
    assert breaker.state == "OPEN"  # measured from the probe, not from the first opening
    clock.advance(0.1)
    assert breaker.state == "HALF_OPEN"
