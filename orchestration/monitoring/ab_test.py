"""Always-valid A/B test of a candidate model against production: promote, roll back, or keep going.

Why a sequential test: the A/B sensor looks at the experiment on every tick. A fixed-n z-test read
again and again will sooner or later cross its threshold by chance, so its false-promotion rate grows
with the number of looks (tests/orchestration/test_ab_testing.py shows it). The mixture sequential
probability ratio test (mSPRT; Johari, Pekelis & Walsh, "Peeking at A/B tests", KDD 2017, and "Always
valid inference", 2015/2022) gives a p-value that stays valid however often, and whenever, one looks.

Outcome. One number per matured model prediction: the cost of its decision (orchestration/outcomes.py:
a missed fraud costs `missed_fraud`, a false decline `false_decline`, a right decision 0). Lower mean
cost is better, so "better model" means "loses less money at its operating point", which a plain
accuracy would not say for fraud (approving everything is 99 % accurate). Any bounded outcome where
lower is better works, e.g. 1 - correct.

Statistic. With n_A production and n_B candidate outcomes, means m_A, m_B and sample variances s²_A,
s²_B, the effect is θ̂ = m_A - m_B (cost saved per transaction by the candidate; > 0 is better) and
its variance is V = s²_A/n_A + s²_B/n_B. Under H0: θ = 0, θ̂ ~ N(0, V) approximately (CLT). Mixing the
likelihood ratio over θ ~ N(0, τ²) gives

    Λ_n = sqrt(V / (V + τ²)) · exp( τ² θ̂² / (2 V (V + τ²)) )

and the always-valid p-value p_n = min(p_{n-1}, 1 / Λ_n), with p_0 = 1. Under H0, Λ_n is a
non-negative martingale, so by Ville's inequality P(sup_n Λ_n ≥ 1/α) ≤ α: the chance that p_n ever
drops to α is at most α. PROMOTE and ROLLBACK both require p_n ≤ α, so the probability of any wrong
verdict between equal models is at most α, whatever the number of looks. That is exact for normal
outcomes of known variance; here V is estimated and the outcomes are discrete, so it holds
approximately, and the tests measure the actual rate.

Mixing variance τ². The mSPRT detects an effect of size θ fastest when τ is near θ; a τ far too large
or too small only costs speed, never validity. τ is therefore configured as the smallest cost
difference per transaction worth acting on (`mixing_sd`, in outcome units). The default 0.005 with the
default costs means "half a missed fraud fewer per hundred transactions".

Variances are plug-in estimates from running sums, which is what makes the normal approximation
work on cost outcomes; no verdict (and no p-value update) is made before each arm has
`min_samples_any` outcomes, so the estimates are not taken from a handful of rows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike


class Verdict(StrEnum):
    PROMOTE = "PROMOTE"
    ROLLBACK = "ROLLBACK"
    CONTINUE = "CONTINUE"
    INCONCLUSIVE = "INCONCLUSIVE"  # max samples reached without a significant difference: keep production


@dataclass(frozen=True)
class ABConfig:
    """Thresholds of the test; outcomes are costs, lower is better."""

    alpha: float = 0.05
    mixing_sd: float = 0.005  # τ: the cost difference per transaction worth detecting
    min_samples: int = 500  # per arm, before a PROMOTE
    min_samples_any: int = 100  # per arm, before any verdict or p-value update
    max_samples: int | None = None  # per arm; reaching it on both arms ends the test INCONCLUSIVE

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"ABConfig.alpha must be in (0, 1), got {self.alpha!r}")
        if not self.mixing_sd > 0:
            raise ValueError(f"ABConfig.mixing_sd must be > 0, got {self.mixing_sd!r}")
        if self.min_samples_any < 2:
            raise ValueError(f"ABConfig.min_samples_any must be >= 2, got {self.min_samples_any!r}")
        if self.min_samples < self.min_samples_any:
            raise ValueError(
                f"ABConfig.min_samples ({self.min_samples}) must be >= min_samples_any "
                f"({self.min_samples_any})"
            )
        if self.max_samples is not None and self.max_samples < self.min_samples:
            raise ValueError(
                f"ABConfig.max_samples ({self.max_samples}) must be >= min_samples ({self.min_samples})"
            )


@dataclass(frozen=True)
class ArmSums:
    """Running count, sum and sum of squares of one arm's outcomes: enough for its mean and variance."""

    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0

    def add(self, outcomes: np.ndarray) -> ArmSums:
        return ArmSums(
            self.n + outcomes.size,
            self.total + float(outcomes.sum()),
            self.total_sq + float(np.square(outcomes).sum()),
        )

    @property
    def mean(self) -> float:
        return self.total / self.n if self.n else math.nan

    @property
    def variance(self) -> float:
        """Unbiased sample variance (clipped at 0 against rounding)."""
        if self.n < 2:
            return math.nan
        return max(self.total_sq - self.total * self.total / self.n, 0.0) / (self.n - 1)


@dataclass(frozen=True)
class ABState:
    """What the test keeps between looks; small and JSON-serialisable for a sensor cursor."""

    candidate: ArmSums = ArmSums()
    production: ArmSums = ArmSums()
    p_value: float = 1.0
    looks: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ABState:
        try:
            return cls(
                candidate=ArmSums(**data["candidate"]),
                production=ArmSums(**data["production"]),
                p_value=float(data["p_value"]),
                looks=int(data["looks"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"not an ABState dict ({error}): {data!r}") from error


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    n_candidate: int
    n_production: int
    mean_candidate: float
    mean_production: float
    effect: float  # mean_production - mean_candidate: cost saved per transaction; > 0 favours the candidate
    p_value: float  # always valid
    alpha: float

    def to_metadata(self) -> dict[str, float | str]:
        return {
            key: (value.value if isinstance(value, Verdict) else value) for key, value in asdict(self).items()
        }


def msprt_log_lambda(effect: float, variance: float, tau: float) -> float:
    """log Λ of the normal-mixture SPRT for an estimate `effect` with variance `variance`."""
    tau_sq = tau * tau
    return 0.5 * math.log(variance / (variance + tau_sq)) + tau_sq * effect * effect / (
        2.0 * variance * (variance + tau_sq)
    )


def _outcomes(values: ArrayLike, arm: str) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{arm} outcomes must be one-dimensional, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{arm} outcomes contain non-finite values: {array[~np.isfinite(array)][:5]}")
    return array


def _updated_p_value(state: ABState, config: ABConfig) -> float:
    a, b = state.production, state.candidate
    if min(a.n, b.n) < config.min_samples_any:
        return state.p_value
    variance = a.variance / a.n + b.variance / b.n
    if variance <= 0:  # both arms constant so far: no evidence either way yet
        return state.p_value
    log_lambda = msprt_log_lambda(a.mean - b.mean, variance, config.mixing_sd)
    return min(state.p_value, math.exp(-max(log_lambda, 0.0)))


def _verdict(state: ABState, effect: float, config: ABConfig) -> tuple[Verdict, str]:
    n = min(state.candidate.n, state.production.n)
    significant = state.p_value <= config.alpha
    where = f"always-valid p={state.p_value:.4g} (alpha={config.alpha})"
    if n < config.min_samples_any:
        return Verdict.CONTINUE, (
            f"waiting for {config.min_samples_any} matured outcomes per arm: candidate has "
            f"{state.candidate.n}, production {state.production.n}"
        )
    if significant and effect < 0:
        return Verdict.ROLLBACK, f"candidate costs {-effect:.4g} more per transaction, {where}"
    if significant and effect > 0:
        if n >= config.min_samples:
            return Verdict.PROMOTE, f"candidate saves {effect:.4g} per transaction, {where}"
        return Verdict.CONTINUE, (
            f"candidate significantly better ({where}) but an arm has only {n} of the "
            f"{config.min_samples} matured outcomes required to promote"
        )
    if config.max_samples is not None and n >= config.max_samples:
        return Verdict.INCONCLUSIVE, (
            f"max samples ({config.max_samples} per arm) reached without a significant difference "
            f"({where}); keep production"
        )
    return Verdict.CONTINUE, f"no significant difference yet, {where}"


def evaluate_ab(
    state: ABState,
    new_outcomes_candidate: ArrayLike,
    new_outcomes_production: ArrayLike,
    config: ABConfig | None = None,
) -> tuple[ABState, Decision]:
    """Fold one look's new matured outcomes (costs, lower is better) into the test and decide.

    Pure: returns the new state rather than changing `state`. Outcomes must be fed once each; the
    state's sums are the test's whole memory.
    """
    config = config or ABConfig()
    state = replace(
        state,
        candidate=state.candidate.add(_outcomes(new_outcomes_candidate, "candidate")),
        production=state.production.add(_outcomes(new_outcomes_production, "production")),
        looks=state.looks + 1,
    )
    state = replace(state, p_value=_updated_p_value(state, config))
    effect = state.production.mean - state.candidate.mean
    verdict, reason = _verdict(state, effect, config)
    decision = Decision(
        verdict=verdict,
        reason=reason,
        n_candidate=state.candidate.n,
        n_production=state.production.n,
        mean_candidate=state.candidate.mean,
        mean_production=state.production.mean,
        effect=effect,
        p_value=state.p_value,
        alpha=config.alpha,
    )
    return state, decision
