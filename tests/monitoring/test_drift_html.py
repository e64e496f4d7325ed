"""The self-contained pages: the shared helpers (``monitoring._html``) and a drift report's page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

import loopml as lm
from loopml.monitoring import _html as h


class _Collect(HTMLParser):
    """Every tag with its attributes, and whether the nesting closes cleanly."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in ("meta", "br", "line", "rect", "circle", "polyline", "i", "input"):
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("rect", "circle", "i"):
            return
        assert self.open and self.open[-1] == tag, (tag, self.open[-3:])
        self.open.pop()


def parse(markup: str) -> _Collect:
    parser = _Collect()
    parser.feed(markup)
    parser.close()
    assert parser.open == []
    return parser


def assert_offline(markup: str) -> None:
    """Nothing a browser would fetch or run: no scripts, links, imports, external sources or urls."""
    tags = parse(markup).tags
    assert not [t for t, _ in tags if t in ("script", "link", "img", "iframe", "object")]
    assert not [a for _, attrs in tags for a in attrs if a in ("src", "srcset") or a.startswith("on")]
    assert "@import" not in markup and "url(" not in markup
    # the only URL is SVG's namespace, which is a name, not a request
    assert set(re.findall(r"https?://[^\"' )]+", markup)) <= {"http://www.w3.org/2000/svg"}


class TestHelpers:
    def test_plain_text_is_escaped_and_markup_is_not(self) -> None:
        cell = h.table(
            ["<b>name</b>"], [["<script>x</script>", h.badge("ok", "good"), 0.123456]], numeric=[2]
        )
        assert "&lt;script&gt;" in cell and "<script>" not in cell and "&lt;b&gt;name" in cell
        assert '<span class="badge good">ok</span>' in cell and '<td class="num">0.1235</td>' in cell
        page = h.page("A & B", [h.section("Part <1>", cell, anchor="x y")])
        assert "<title>A &amp; B</title>" in page and 'id="c-x-y"' in page
        assert_offline(page)

    def test_numbers_are_short(self) -> None:
        assert [h.fmt(v) for v in (1234567, 0.5, 2e-7, float("inf"), float("nan"), None, "x")] == [
            "1,234,567",
            "0.5",
            "2.000e-07",
            "∞",
            "nan",
            "",
            "x",
        ]

    def test_histogram_pair_draws_shares_of_each_side(self) -> None:
        svg = h.histogram_pair([0, 1, 2, 3], [10, 30, 60], [1, 1, 2])
        bars = [attrs for tag, attrs in parse(svg).tags if tag == "rect"]
        assert len(bars) == 6
        heights = [float(b["height"] or 0) for b in bars]
        # the tallest bar is the largest share (60 %, the reference's last bin); the current's is 50 %
        assert heights[4] == max(heights) and heights[5] == pytest.approx(0.5 / 0.6 * heights[4], abs=0.1)
        assert "reference" in svg and "current" in svg
        assert "no distribution" in h.histogram_pair([0, 1], [1, 2], [1, 2])  # edges do not fit the counts

    def test_bar_pair_uses_totals_when_given(self) -> None:
        svg = h.bar_pair(["a", "b<"], [50, 25], [10, 10], totals=(100, 20))
        assert "50% → 50%" in svg and "25% → 50%" in svg and "b&lt;" in svg

    def test_line_chart_breaks_at_missing_values_and_marks_points(self) -> None:
        svg = h.line_chart(
            [0, 3_600_000, 7_200_000, 10_800_000],
            {"drift share": [0.1, None, 0.4, 0.5], "other": [0.2, 0.2, 0.2, 0.2]},
            band=(None, 0.3),
            marks=[False, False, True, True],
            x_format=h.utc_label,
        )
        tags = parse(svg).tags
        lines = [a for t, a in tags if t == "polyline"]
        assert len(lines) == 2  # drift share: one point, then a run of two; other: one run of four
        assert len([a for t, a in tags if t == "circle" and a.get("r") == "6"]) == 2
        assert len([a for t, a in tags if t == "rect"]) == 1  # the band
        assert "1970-01-01 00:00" in svg and "1970-01-01 03:00" in svg
        assert "no values" in h.line_chart([], {"x": []})


def test_a_drift_report_page() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame(
        {
            "temp<1>": rng.normal(20, 2, 1500),
            "status": rng.choice(["ok", "warn"], 1500),
            "when": pd.date_range("2024-01-01", periods=1500, freq="min"),
        }
    )
    cur = ref.assign(
        **{"temp<1>": rng.normal(23, 2, 1500), "status": rng.choice(["ok", "warn", "new"], 1500)}
    )
    report = lm.drift(ref, cur)
    page = report.to_html()
    assert_offline(page)
    assert "temp&lt;1&gt;" in page and "temp<1>" not in page
    assert "dataset drift" in page and "wasserstein" in page and "jensenshannon" in page
    assert page.count("<svg") == 2 and "Not compared" in page and "when" in page
    assert "value(s) the reference never had: new" in page
    assert page.count('class="badge bad">dataset drift<') == 1
    assert page.count('class="badge bad">drift<') == 2 * len(report.drifted_columns)  # the table, the section
