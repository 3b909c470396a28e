import base64
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from orchestration.monitoring.charts import (
    as_markdown_image,
    bar_chart,
    drift_chart,
    latency_chart,
    line_chart,
    outcomes_chart,
)

SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything that is not well-formed XML
    assert root.tag == f"{SVG}svg"
    return root


def test_latency_chart_draws_three_percentile_lines():
    rng = np.random.default_rng(0)
    records = pd.DataFrame({"predicted_ms": np.arange(6000) * 100, "latency_ms": rng.gamma(2, 10, 6000)})
    root = _parse(latency_chart(records))
    lines = root.findall(f"{SVG}polyline")
    assert len(lines) == 3
    assert all(len(line.get("points").split()) == 10 for line in lines)  # ten one-minute buckets
    assert {"p50", "p95", "p99"} <= {t.text for t in root.iter(f"{SVG}text")}


def test_outcomes_and_drift_charts_have_a_bar_per_row_and_mark_drift():
    per_variant = pd.DataFrame({"n": [900, 100], "mean_cost": [0.01, 0.02]}, index=["blue", "green"])
    assert len(_parse(outcomes_chart(per_variant)).findall(f"{SVG}rect")) == 1 + 2  # background + bars
    per_feature = pd.DataFrame(
        {"drift_score": [1.2, 0.01, 0.3], "threshold": 0.1, "drifted": [True, False, True]},
        index=["amount", "is_night", "<odd & name>"],
    )
    svg = drift_chart(per_feature)
    root = _parse(svg)
    fills = [r.get("fill") for r in root.findall(f"{SVG}rect")][1:]
    assert fills.count("#d62728") == 2
    assert "&lt;odd &amp; name&gt;" in svg
    assert root.findall(f"{SVG}line")  # the threshold line


def test_markdown_image_round_trips_the_svg():
    svg = bar_chart(["a"], [1.0], "t", "x")
    markdown = as_markdown_image(svg, "chart")
    match = re.fullmatch(r"!\[chart\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match and base64.b64decode(match.group(1)).decode() == svg
    assert len(svg) > 300


def test_bad_chart_inputs_are_named():
    with pytest.raises(ValueError, match="series 'p99' has 1 values for 2 x labels"):
        line_chart(["a", "b"], {"p99": [1.0]}, "t", "ms")
    with pytest.raises(ValueError, match="no column 'auc'"):
        outcomes_chart(pd.DataFrame({"n": [1]}), "auc")
    with pytest.raises(ValueError, match="as many values"):
        bar_chart(["a", "b"], [1.0], "t", "x")
