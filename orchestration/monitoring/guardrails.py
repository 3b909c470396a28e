"""Label-free guardrails per variant: what can be judged from one window of predictions, right away.

Labels take days to mature; a candidate that errors, is slow, declines far more customers than
production, or does not get the traffic share it was configured for must be caught within minutes.
These checks need no labels, so the health sensor can run them every tick and roll back on a breach.

Sample-ratio mismatch (SRM): when the observed split of requests between variants does not match the
configured weights, something upstream (routing, retries, a variant dropping requests) is biasing the
experiment, and its A/B result cannot be trusted. A chi-square goodness-of-fit test of the counts
against the weights flags it at p < 0.001 (the usual SRM level: strict, because the check runs
often and a false alarm stops a healthy experiment).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import chisquare

SRM = "sample_ratio_mismatch_p"


@dataclass(frozen=True)
class VariantStats:
    """One variant's figures over a window. `requests` counts every request routed to it, errors included.

    The endpoint counts errors per call, and one call of the consumer carries a whole micro-batch of
    records: when the variant's calls are known (CloudWatch Invocations), the error rate is errors per
    call, otherwise errors per request.
    """

    requests: int
    errors: int
    p99_latency_ms: float
    decline_rate: float
    calls: int | None = None

    @property
    def error_rate(self) -> float:
        denominator = self.calls if self.calls else self.requests
        return self.errors / denominator if denominator else 0.0


@dataclass(frozen=True)
class GuardrailConfig:
    production_variant: str
    max_error_rate: float = 0.01
    max_p99_latency_ms: float = 250.0
    max_decline_ratio: float = 2.0  # candidate decline rate / production decline rate
    min_decline_ratio: float = 0.25  # a model that stops declining is as broken as one declining all
    srm_p_value: float = 0.001
    min_requests: int = 200  # per variant, before the ratio and SRM checks are meaningful


@dataclass(frozen=True)
class Breach:
    variant: str
    figure: str
    value: float
    limit: float
    message: str


def stats_from_predictions(
    predictions: pd.DataFrame,
    errors_by_variant: Mapping[str, int] | None = None,
    calls_by_variant: Mapping[str, int] | None = None,
) -> dict[str, VariantStats]:
    """Per-variant figures from the consumer's prediction records of one window.

    Fallback predictions carry no variant (no model answered), so per-variant errors come from the
    endpoint's own counts (e.g. CloudWatch Invocation5XXErrors per variant) in `errors_by_variant`,
    and the calls they are a share of (CloudWatch Invocations) in `calls_by_variant`.
    """
    missing = {"variant", "latency_ms", "decision", "fallback"} - set(predictions.columns)
    if missing:
        raise ValueError(f"predictions lack column(s) {sorted(missing)}")
    errors = {str(variant): int(count) for variant, count in (errors_by_variant or {}).items()}
    calls = {str(variant): int(count) for variant, count in (calls_by_variant or {}).items()}
    served = predictions[~predictions["fallback"].astype(bool)]
    groups = {str(variant): rows for variant, rows in served.groupby("variant", sort=True)}
    stats: dict[str, VariantStats] = {}
    for variant in sorted(set(groups) | set(errors)):
        failed = errors.get(variant, 0)
        rows = groups.get(variant)
        if rows is None:  # a variant that only failed in this window
            stats[variant] = VariantStats(failed, failed, float("nan"), float("nan"), calls.get(variant))
            continue
        stats[variant] = VariantStats(
            requests=len(rows) + failed,
            errors=failed,
            p99_latency_ms=float(np.percentile(rows["latency_ms"].to_numpy(np.float64), 99)),
            decline_rate=float((rows["decision"] != "approve").mean()),
            calls=calls.get(variant),
        )
    return stats


def _srm_breach(
    window: Mapping[str, VariantStats], weights: Mapping[str, float], config: GuardrailConfig
) -> Breach | None:
    names = sorted(name for name, weight in weights.items() if weight > 0)
    observed = np.array([window[name].requests if name in window else 0 for name in names], dtype=float)
    total = observed.sum()
    if len(names) < 2 or total < config.min_requests * len(names):
        return None
    share = np.array([weights[name] for name in names], dtype=float)
    share /= share.sum()
    p_value = float(chisquare(observed, total * share).pvalue)
    if p_value >= config.srm_p_value:
        return None
    worst = int(np.argmax(np.abs(observed / total - share) / share))
    return Breach(
        names[worst],
        SRM,
        p_value,
        config.srm_p_value,
        f"sample-ratio mismatch: {names[worst]!r} got {observed[worst] / total:.3f} of "
        f"{int(total)} requests for a weight share of {share[worst]:.3f} (chi-square p={p_value:.2g})",
    )


def _variant_breaches(
    name: str, stats: VariantStats, production: VariantStats | None, config: GuardrailConfig
) -> list[Breach]:
    breaches = []
    if stats.error_rate > config.max_error_rate:
        breaches.append(
            Breach(
                name,
                "error_rate",
                stats.error_rate,
                config.max_error_rate,
                f"{name!r} failed {stats.errors} of "
                + (f"{stats.calls} calls" if stats.calls else f"{stats.requests} requests"),
            )
        )
    if stats.p99_latency_ms > config.max_p99_latency_ms:
        breaches.append(
            Breach(
                name,
                "p99_latency_ms",
                stats.p99_latency_ms,
                config.max_p99_latency_ms,
                f"{name!r} p99 latency {stats.p99_latency_ms:.0f} ms",
            )
        )
    comparable = (
        production is not None
        and name != config.production_variant
        and min(stats.requests, production.requests) >= config.min_requests
        and production.decline_rate > 0
    )
    if not comparable:
        return breaches
    ratio = stats.decline_rate / production.decline_rate
    for limit, out_of_bounds in (
        (config.max_decline_ratio, ratio > config.max_decline_ratio),
        (config.min_decline_ratio, ratio < config.min_decline_ratio),
    ):
        if out_of_bounds:
            breaches.append(
                Breach(
                    name,
                    "decline_ratio",
                    ratio,
                    limit,
                    f"{name!r} declines {stats.decline_rate:.4f} of requests against "
                    f"production's {production.decline_rate:.4f}",
                )
            )
    return breaches


def check_guardrails(
    window: Mapping[str, VariantStats], weights: Mapping[str, float], config: GuardrailConfig
) -> list[Breach]:
    """Every guardrail breached in `window`; weights are the configured traffic weights per variant."""
    unknown = sorted(set(window) - set(weights))
    if unknown:
        raise ValueError(
            f"window has variant(s) {unknown} with no configured weight; weights: {dict(weights)}"
        )
    if config.production_variant not in weights:
        raise ValueError(f"production variant {config.production_variant!r} not in weights {dict(weights)}")

    production = window.get(config.production_variant)
    breaches = [
        breach
        for name, stats in sorted(window.items())
        for breach in _variant_breaches(name, stats, production, config)
    ]
    srm = _srm_breach(window, weights, config)
    if srm is not None:
        breaches.append(srm)
    return breaches
