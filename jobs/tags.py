"""The run tags that say why a run was launched: set by the sensors, read by the endpoint ops.

A sensor's run carries its name, its decision, the decision's reason and its key statistics; the run
page shows them, and the endpoint ops copy the reason into the deployment history.
"""

from collections.abc import Mapping

PREFIX = "rtinfer/"
REASON = f"{PREFIX}reason"
SENSOR = f"{PREFIX}sensor"
DECISION = f"{PREFIX}decision"
CANDIDATE = f"{PREFIX}candidate"
STATISTIC_PREFIX = f"{PREFIX}stat."
MAX_STATISTICS = 8  # the figures a reader needs, not every one the sensor computed


def _figure(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def decision_tags(
    sensor: str, decision: str, reason: str, statistics: Mapping[str, object] | None = None, **extra: str
) -> dict[str, str]:
    """Tags for a run a sensor launches: the whole reason, never cut, and up to MAX_STATISTICS figures."""
    tags = {SENSOR: sensor, DECISION: decision, REASON: reason}
    # Numbers only: a statistic's own verdict or reason text (the sequential test's, say) would read as
    # a second decision beside the one the sensor took.
    figures = [
        (k, v)
        for k, v in (statistics or {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    for name, value in figures[:MAX_STATISTICS]:
        tags[f"{STATISTIC_PREFIX}{name}"] = _figure(value)
    tags.update({f"{PREFIX}{key}": value for key, value in extra.items()})
    return tags
