import json

import numpy as np
import pytest
from scipy.stats import norm

from orchestration.monitoring.ab_test import ABConfig, ABState, Verdict, evaluate_ab, msprt_log_lambda

BATCH = 50  # outcomes per arm between two looks
CONFIG = ABConfig(alpha=0.05, mixing_sd=0.05, min_samples=500, min_samples_any=100, max_samples=4000)
RUNS = 300
LOOKS = CONFIG.max_samples // BATCH


def _costs(rng, rate, runs=RUNS):
    """Bernoulli costs (a missed fraud costs 1) per run and look: shape (runs, LOOKS, BATCH)."""
    return (rng.uniform(size=(runs, LOOKS, BATCH)) < rate).astype(np.float64)


def _sequential(candidate, production, config=CONFIG):
    """Verdict and per-arm sample size at which each run stopped (or ran out of looks)."""
    verdicts, sizes = [], []
    for cand_run, prod_run in zip(candidate, production, strict=True):
        state, decision = ABState(), None
        for cand, prod in zip(cand_run, prod_run, strict=True):
            state, decision = evaluate_ab(state, cand, prod, config)
            if decision.verdict is not Verdict.CONTINUE:
                break
        verdicts.append(decision.verdict)
        sizes.append(decision.n_candidate)
    return np.array(verdicts), np.array(sizes)


def _fixed_n_z_test_acts(candidate, production, config=CONFIG):
    """Whether a two-sample z-test at level alpha, read at every look, ever promotes or rolls back."""
    n = BATCH * np.arange(1, LOOKS + 1)
    stats = []
    for arm in (candidate, production):
        total = arm.sum(axis=2).cumsum(axis=1)
        total_sq = np.square(arm).sum(axis=2).cumsum(axis=1)
        stats.append((total / n, (total_sq - total**2 / n) / (n - 1)))
    (m_b, v_b), (m_a, v_a) = stats
    se = np.sqrt(v_a / n + v_b / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = 2 * norm.sf(np.abs((m_a - m_b) / se))
    promote = (p < config.alpha) & (m_a > m_b) & (n >= config.min_samples)
    rollback = (p < config.alpha) & (m_a < m_b) & (n >= config.min_samples_any)
    return (promote | rollback).any(axis=1)


def _slack(rate, runs=RUNS):
    return 2.33 * np.sqrt(rate * (1 - rate) / runs)  # one-sided 99% binomial margin


def test_a_a_promotes_at_most_alpha_and_a_peeking_z_test_does_not():
    rng = np.random.default_rng(11)
    candidate, production = _costs(rng, 0.1), _costs(rng, 0.1)
    verdicts, _ = _sequential(candidate, production)
    promoted = float(np.mean(verdicts == Verdict.PROMOTE))
    any_verdict = float(np.mean(np.isin(verdicts, [Verdict.PROMOTE, Verdict.ROLLBACK])))
    naive = float(_fixed_n_z_test_acts(candidate, production).mean())
    print(
        f"\nA/A over {RUNS} runs, a look every {BATCH} outcomes per arm up to {CONFIG.max_samples}: "
        f"mSPRT false promotions {promoted:.3f}, any false verdict {any_verdict:.3f}; "
        f"fixed-n z-test read at every look: any false verdict {naive:.3f}"
    )
    assert promoted <= CONFIG.alpha + _slack(CONFIG.alpha)
    assert any_verdict <= CONFIG.alpha + _slack(CONFIG.alpha)
    assert naive > CONFIG.alpha + _slack(CONFIG.alpha)  # peeking breaks the fixed-n test
    assert set(verdicts) <= {Verdict.PROMOTE, Verdict.ROLLBACK, Verdict.INCONCLUSIVE}


@pytest.mark.parametrize(
    ("candidate_rate", "expected", "within"),
    [(0.05, Verdict.PROMOTE, 2000), (0.15, Verdict.ROLLBACK, 2000)],
)
def test_a_clear_difference_is_acted_on_within_a_bounded_sample(candidate_rate, expected, within):
    rng = np.random.default_rng(5)
    runs = 100
    verdicts, sizes = _sequential(_costs(rng, candidate_rate, runs), _costs(rng, 0.1, runs))
    acted = (verdicts == expected) & (sizes <= within)
    print(
        f"\ncandidate cost rate {candidate_rate} vs production 0.1: {expected} in {acted.mean():.2f} of "
        f"runs within {within} per arm (median {np.median(sizes[verdicts == expected]):.0f})"
    )
    assert acted.mean() >= 0.95
    assert not np.any(verdicts == (Verdict.ROLLBACK if expected is Verdict.PROMOTE else Verdict.PROMOTE))


def test_promotion_waits_for_min_samples():
    config = ABConfig(mixing_sd=0.05, min_samples=1000, min_samples_any=100)
    state = ABState()
    rng = np.random.default_rng(0)
    for _ in range(6):  # 600 per arm: a large effect is significant long before min_samples
        state, decision = evaluate_ab(state, np.zeros(100), (rng.uniform(size=100) < 0.3) * 1.0, config)
    assert decision.p_value <= config.alpha
    assert decision.verdict is Verdict.CONTINUE
    assert "1000" in decision.reason
    state, decision = evaluate_ab(state, np.zeros(400), (rng.uniform(size=400) < 0.3) * 1.0, config)
    assert decision.verdict is Verdict.PROMOTE
    assert decision.n_candidate == decision.n_production == 1000
    assert decision.effect > 0


def test_no_verdict_and_no_p_value_before_min_samples_any():
    state, decision = evaluate_ab(ABState(), np.ones(50), np.zeros(50), ABConfig(min_samples_any=100))
    assert decision.verdict is Verdict.CONTINUE
    assert decision.p_value == 1.0


def test_inconclusive_at_max_samples():
    config = ABConfig(min_samples=100, min_samples_any=100, max_samples=200, mixing_sd=0.05)
    outcomes = np.tile([0.0, 1.0], 100)
    _, decision = evaluate_ab(ABState(), outcomes, outcomes, config)
    assert decision.verdict is Verdict.INCONCLUSIVE
    assert "keep production" in decision.reason


def test_state_round_trips_through_json_and_the_p_value_never_rises():
    rng = np.random.default_rng(3)
    state, previous = ABState(), 1.0
    for _ in range(20):
        state, decision = evaluate_ab(state, rng.uniform(size=50), rng.uniform(size=50), CONFIG)
        state = ABState.from_dict(json.loads(json.dumps(state.to_dict())))
        assert decision.p_value <= previous
        previous = decision.p_value
    assert state.looks == 20 and state.candidate.n == 1000
    json.dumps(decision.to_metadata())


def test_looking_once_or_in_batches_gives_the_same_sums():
    rng = np.random.default_rng(4)
    cand, prod = rng.uniform(size=600), rng.uniform(size=600)
    once, _ = evaluate_ab(ABState(), cand, prod, CONFIG)
    batched = ABState()
    for start in range(0, 600, 200):
        batched, _ = evaluate_ab(batched, cand[start : start + 200], prod[start : start + 200], CONFIG)
    assert batched.candidate.n == once.candidate.n
    assert batched.candidate.mean == pytest.approx(once.candidate.mean)
    assert batched.production.variance == pytest.approx(once.production.variance)


def test_lambda_matches_the_closed_form():
    v, tau, effect = 1e-4, 0.05, 0.02
    expected = np.sqrt(v / (v + tau**2)) * np.exp(tau**2 * effect**2 / (2 * v * (v + tau**2)))
    assert np.exp(msprt_log_lambda(effect, v, tau)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"alpha": 1.5}, "alpha"), ({"mixing_sd": 0}, "mixing_sd"), ({"min_samples": 10}, "min_samples")],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        ABConfig(**kwargs)


def test_bad_outcomes_and_state_are_named():
    with pytest.raises(ValueError, match="candidate outcomes contain non-finite"):
        evaluate_ab(ABState(), [np.nan], [0.0])
    with pytest.raises(ValueError, match="production outcomes must be one-dimensional"):
        evaluate_ab(ABState(), [0.0], [[0.0]])
    with pytest.raises(ValueError, match="not an ABState"):
        ABState.from_dict({"candidate": {}})


def _fraud_costs(rng, missed_rate, shape):
    """Default DecisionCosts on a fraud-like stream: missed frauds (1.0) and false declines (0.1) are rare."""
    u = rng.uniform(size=shape)
    return np.where(u < missed_rate, 1.0, np.where(u < missed_rate + 0.01, 0.1, 0.0))


def test_default_config_on_fraud_like_costs():
    rng = np.random.default_rng(1)
    config = ABConfig(max_samples=50_000)  # default alpha, mixing_sd, min samples
    runs, shape = 200, (config.max_samples // 500, 500)  # a look every 500 outcomes per arm

    def arms(candidate_missed_rate):  # run by run: all runs at once would take hundreds of MB
        candidate = (_fraud_costs(rng, candidate_missed_rate, shape) for _ in range(runs))
        production = (_fraud_costs(rng, 0.005, shape) for _ in range(runs))
        return candidate, production

    a_a, _ = _sequential(*arms(0.005), config)
    better, sizes = _sequential(*arms(0.0025), config)
    false_rate = float(np.isin(a_a, [Verdict.PROMOTE, Verdict.ROLLBACK]).mean())
    print(
        f"\ndefault config, 0.5 % missed frauds: A/A false verdicts {false_rate:.3f}; half the missed "
        f"frauds promoted in {np.mean(better == Verdict.PROMOTE):.2f} of runs, median {np.median(sizes):.0f}"
        f", 95th percentile {np.percentile(sizes, 95):.0f} per arm"
    )
    assert false_rate <= config.alpha + _slack(config.alpha, runs)
    assert np.mean(better == Verdict.PROMOTE) >= 0.95
