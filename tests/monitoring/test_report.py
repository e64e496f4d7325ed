"""The monitor report: one self-contained page with every feature, performance over time and the alerts."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from loopml.data import Profile, profile_frame
from loopml.monitoring import Threshold, render_monitor_report
from loopml.monitoring._report import report_data
from loopml.store import Alert, WindowResult
from loopml.store import Monitor as StoredMonitor

HOUR = 3600 * 1000
T0 = 1_714_521_600_000  # 2024-05-01 00:00 UTC


def Monitor(**kw: Any) -> StoredMonitor:
    fields: dict[str, Any] = {
        "id": "m1",
        "name": "pump-hourly",
        "model": "pump",
        "route": "champion",
        "config": {},
        "reference": {},
        "created_ms": T0,
        "created_by": "ana",
        "updated_ms": T0,
    }
    return StoredMonitor(**{**fields, **kw})


def _profile(frame: pd.DataFrame) -> Profile:
    return profile_frame(frame)


def _frames(shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(int(shift * 10))
    n = 2000
    return pd.DataFrame(
        {
            "temperature": rng.normal(60 + shift, 5, n),
            "product": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2] if shift < 5 else [0.2, 0.3, 0.5]),
            "pressure": rng.integers(1, 4, n).astype(float),  # few values: a bar each
        }
    )


def _windows(hours: int = 6) -> list[WindowResult]:
    out = []
    for h in range(hours):
        drift = 0.02 + 0.05 * h
        labelled = h < 3  # labels arrive late: only the first windows have them so far
        out.append(
            WindowResult(
                "m1",
                T0 + h * HOUR,
                T0 + (h + 1) * HOUR,
                1,
                "",
                {
                    "rows": 1000.0,
                    "drift_share": 0.5 if h >= 4 else 0.0,
                    "drift(temperature)": drift,
                    "drifted(temperature)": 1.0 if drift >= 0.1 else 0.0,
                    "drift(product)": 0.01,
                    "drift(pressure)": 0.03,
                    "f1": (0.91 - 0.05 * h) if labelled else None,
                    "estimated.f1": 0.9 - 0.04 * h,
                    "label_coverage": 1.0 if labelled else 0.0,
                },
                {"drift": {"temperature": {"test": "wasserstein", "threshold": 0.1}}},
            )
        )
    out.append(WindowResult("m1", T0, T0 + HOUR, 1, "site=berlin", {"drift_share": 1.0, "f1": 0.1}))
    return out


def _alerts() -> list[Alert]:
    return [
        Alert("a1", "m1", "f1 < 0.85", "", "resolved", T0 + HOUR, T0 + 3 * HOUR, T0 + 3 * HOUR, 0.81, T0),
        Alert("a2", "m1", "drift_share >= 0.3 for 2 windows", "", "firing", T0 + 6 * HOUR, T0 + 6 * HOUR,
              None, 0.5, T0 + 4 * HOUR),
    ]  # fmt: skip


@pytest.fixture
def page() -> str:
    monitor = Monitor(
        config={
            "rules": ["f1 < 0.85", "drift_share >= 0.3 for 2 windows"],
            "thresholds": {"f1": {"lower": 0.85}},
        },
        reference={"dataset": "pumps:3", "profile_digest": "ab" * 32},
    )
    return render_monitor_report(monitor, _windows(), _alerts(), _profile(_frames(0)), _profile(_frames(8)))


def test_one_page_that_loads_nothing(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    without_namespace = page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", without_namespace, re.I)
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(|src=", page, re.I)


def test_the_monitor_its_features_performance_and_alerts(page: str) -> None:
    assert "pump-hourly" in page and "pump" in page and "champion" in page and "pumps:3" in page
    for column in ("temperature", "product", "pressure"):
        assert f"<h2>{column}</h2>" in page
    assert "wasserstein" in page and "drifted in 4 windows" in page
    assert "f1 &lt; 0.85" in page and "drift_share &gt;= 0.3 for 2 windows" in page
    assert page.index("firing") < page.index("resolved")  # the firing alert first
    assert "Label coverage" in page and "Drift share" in page
    assert "estimated.f1" in page


def test_the_data_behind_the_page() -> None:
    reference, current = _profile(_frames(0)), _profile(_frames(8))
    monitor = Monitor(config={"thresholds": {"f1": {"lower": 0.85}}})
    data = report_data(monitor, _windows(), _alerts(), reference, current)
    assert data.windows == 6 and data.versions == (1,)
    assert [f.column for f in data.features] == ["temperature", "product", "pressure"]
    temperature = data.features[0]
    assert temperature.test == "wasserstein" and temperature.drift[0].threshold == Threshold(upper=0.1)
    assert [p.value for p in temperature.drift[0].points] == pytest.approx(
        [0.02, 0.07, 0.12, 0.17, 0.22, 0.27]
    )
    histogram = temperature.distribution
    assert histogram is not None and histogram.kind == "numeric" and histogram.edges is not None
    assert sum(histogram.reference or ()) == pytest.approx(1.0)
    assert sum(histogram.current or ()) == pytest.approx(1.0)
    # the same bins for both: the reference sits low, the shifted current high
    assert histogram.reference is not None and histogram.current is not None
    centers = [(a + b) / 2 for a, b in zip(histogram.edges[:-1], histogram.edges[1:], strict=True)]
    assert np.dot(centers, histogram.reference) == pytest.approx(60, abs=0.5)
    assert np.dot(centers, histogram.current) == pytest.approx(68, abs=0.5)
    product = data.features[1].distribution
    assert product is not None and product.reference is not None
    assert set(product.labels) == {"a", "b", "c"}  # every value shown: no "(other)"
    assert product.reference[product.labels.index("a")] == pytest.approx(0.5, abs=0.03)
    pressure = data.features[2].distribution
    assert pressure is not None and pressure.labels == ("1", "2", "3")
    ((metric, series),) = data.performance
    assert metric == "f1" and [s.name for s in series] == ["f1", "estimated.f1"]
    assert [p.value for p in series[0].points][3:] == [None, None, None]  # no labels yet: gaps, not zeros
    assert series[0].threshold == Threshold(lower=0.85) == series[1].threshold
    assert [a.state for a in data.alerts] == ["firing", "resolved"]


def test_no_windows_no_alerts_no_profiles() -> None:
    page = render_monitor_report(Monitor(), [], [], None, None)
    assert "No windows computed yet" in page and "loopml monitor check pump-hourly" in page
    assert "No alerts." in page and "No performance yet" in page
    page = render_monitor_report(Monitor(config={"features": ["temperature"]}), [], [], None, None)
    assert "<h2>temperature</h2>" in page and "Not in the reference or the current profile" in page


def test_empty_windows_and_a_moved_alias() -> None:
    windows = [
        WindowResult(
            "m1", T0, T0 + HOUR, 1, "", {"rows": 0.0, "drift_share": None, "drift(temperature)": None}
        ),
        WindowResult("m1", T0 + HOUR, T0 + 2 * HOUR, 1, "", {"rows": 400.0, "drift(temperature)": 0.05}),
        WindowResult("m1", T0 + HOUR, T0 + 2 * HOUR, 2, "", {"rows": 600.0, "drift(temperature)": 0.08}),
    ]
    current = _profile(_frames(0).rename(columns={"temperature": "input.temperature"}))  # as the log names it
    data = report_data(Monitor(), windows, [], _profile(_frames(0)), current)
    assert data.windows == 2 and data.versions == (1, 2)
    drift = data.features[0].drift
    assert [s.label for s in drift] == ["drift score (v1)", "drift score (v2)"]
    assert data.features[0].distribution is not None and data.features[0].distribution.current is not None
    page = render_monitor_report(Monitor(), windows, [], None, current)
    assert "drift score (v2)" in page and "<h2>temperature</h2>" in page


def test_many_values_show_the_most_frequent_and_the_rest() -> None:
    rng = np.random.default_rng(3)
    names = [f"v{i:02d}" for i in range(30)]
    reference = _profile(pd.DataFrame({"code": rng.choice(names, 3000)}))
    current = _profile(pd.DataFrame({"code": rng.choice(names[:5], 3000)}))
    distribution = report_data(Monitor(), [], [], reference, current).features[0].distribution
    assert (
        distribution is not None and distribution.reference is not None and distribution.current is not None
    )
    assert len(distribution.labels) == 11 and distribution.labels[-1] == "(other)"
    assert set(distribution.labels[:5]) == set(names[:5])  # the current's values, the most frequent
    assert sum(distribution.reference) == pytest.approx(1.0) and distribution.reference[-1] > 0.5
    assert distribution.current[-1] == pytest.approx(0.0)


def test_a_column_only_on_one_side_and_text_is_escaped() -> None:
    reference = _profile(pd.DataFrame({"<b>odd</b>": ["x", "y"], "gone": [1.0, 2.0]}))
    current = _profile(pd.DataFrame({"<b>odd</b>": ["x", "z"]}))
    page = render_monitor_report(Monitor(name="<script>"), [], [], reference, current)
    assert "<script>" not in page and "&lt;script&gt;" in page and "&lt;b&gt;odd" in page
    assert "not in the current" in page


def test_a_p_value_test_is_drawn_as_p_values_against_its_threshold() -> None:
    """KS, chi-squared and z drift when the p-value falls to the threshold: the chart shows p-values."""
    windows = [
        WindowResult(
            "m1",
            T0 + h * HOUR,
            T0 + (h + 1) * HOUR,
            1,
            "",
            {"drift(temperature)": 0.1 * h, "drifted(temperature)": float(p <= 0.05)},
            {"drift": {"columns": {"temperature": {"test": "ks", "threshold": 0.05, "p_value": p}}}},
        )
        for h, p in enumerate((0.6, 0.2, 0.01))
    ]
    feature = report_data(Monitor(), windows, [], None, None).features[0]
    (series,) = feature.drift
    assert feature.test == "ks" and series.name == "p-value" and series.threshold == Threshold(lower=0.05)
    assert [p.value for p in series.points] == [0.6, 0.2, 0.01] and series.marks == (False, False, True)
    assert feature.drifted_windows == 1
    page = render_monitor_report(Monitor(), windows, [], None, None)
    assert "P-value over time" in page and "&gt;= 0.05" in page
