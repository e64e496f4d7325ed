"""Alert rules: the grammar, errors that point at the mistake, and evaluation over windows."""

from __future__ import annotations

import math

import pytest

from loopml.errors import InvalidArgumentError, RuleError
from loopml.monitoring import Rule


class TestParsing:
    @pytest.mark.parametrize(
        ("text", "metric", "canonical"),
        [
            ("drift_share >= 0.3 for 2 windows", "drift_share", "drift_share >= 0.3 for 2 windows"),
            ("f1 < 0.80", "f1", "f1 < 0.8"),
            ("psi(temperature) > 0.2", "psi(temperature)", "psi(temperature) > 0.2"),
            ("null_fraction(pressure) > 0.05", "null_fraction(pressure)", "null_fraction(pressure) > 0.05"),
            ("new_categories(product) > 0", "new_categories(product)", "new_categories(product) > 0"),
            ("new_classes(target) > 0", "new_classes(target)", "new_classes(target) > 0"),
            ("prediction_rate outside 100..5000", "prediction_rate", "prediction_rate outside 100..5000"),
            ("latency_p99_ms > 50", "latency_p99_ms", "latency_p99_ms > 50"),
            ("error_rate > 0.01", "error_rate", "error_rate > 0.01"),
            ("estimated.f1 < 0.8", "estimated.f1", "estimated.f1 < 0.8"),
            ("drifted(temperature)==1", "drifted(temperature)", "drifted(temperature) == 1"),
            (
                "check.not_null(temperature) < 1",
                "check.not_null(temperature)",
                "check.not_null(temperature) < 1",
            ),
            ("check.in_range(x, 0, 10) != 1", "check.in_range(x, 0, 10)", "check.in_range(x, 0, 10) != 1"),
            ("wasserstein(`sensor 1`) >= 1e-1", "wasserstein(sensor 1)", "wasserstein(`sensor 1`) >= 0.1"),
            ("  rmse <= -.5 for 1 window ", "rmse", "rmse <= -0.5"),
        ],
    )
    def test_the_rules_of_the_issue_parse(self, text: str, metric: str, canonical: str) -> None:
        rule = Rule.parse(text)
        assert (rule.metric, rule.text, str(rule)) == (metric, canonical, canonical)
        assert rule.requires == {metric}
        assert Rule.parse(rule.text) == rule  # the canonical form reads back as the same rule

    def test_a_rule_says_what_it_compares(self) -> None:
        band = Rule.parse("prediction_rate outside 100..5000 for 3 windows")
        assert (band.op, band.low, band.high, band.threshold, band.windows) == ("outside", 100, 5000, None, 3)
        psi = Rule.parse("psi(temperature) > 0.2")
        assert (psi.function, psi.column, psi.op, psi.threshold, psi.windows) == (
            "psi",
            "temperature",
            ">",
            0.2,
            1,
        )
        assert Rule.parse("f1 < 0.8").column is None
        assert Rule.parse(psi) is psi
        assert Rule.parse("f1<0.80") == Rule.parse("f1 < 0.8")

    @pytest.mark.parametrize(
        ("text", "message", "caret"),
        [
            ("f1 <", "expected a number, found the end of the rule", 4),
            ("f1 = 0.8", "'=' alone is not a comparison", 3),
            ("f1_scroe < 0.8", "unknown metric 'f1_scroe'; did you mean f1_score", 0),
            ("psy(x) > 1", "unknown column statistic 'psy'; did you mean psi?", 0),
            ("psi > 0.2", "psi is a statistic of one column: write psi(COLUMN)", 4),
            ("psi(sensor-1) > 0.2", "quote a column name", 10),
            ("psi(`x) > 0.2", "never closed", 4),
            ("estimated.f2 < 0.8", "unknown performance metric 'f2'", 10),
            ("f1 < 0.8 for 0 windows", "a whole number of windows", 13),
            ("f1 < 0.8 for 2.5 windows", "a whole number of windows", 13),
            ("f1 < 0.8 for 2 hours", "expected 'windows'", 15),
            ("f1 < 0.8 and error_rate > 0", "unexpected 'and' after the rule", 9),
            ("prediction_rate outside 5000..100", "the band 5000..100 is empty", 24),
            ("prediction_rate outside 100...5000", "two dots", 27),
            ("prediction_rate between 100..5000", "outside LOW..HIGH", 16),
            ("f1 ~ 0.8", "unexpected character '~'", 3),
            ("0.8 > f1", "expected a metric", 0),
            ("f1 < high", "expected a number, found 'high'", 5),
        ],
    )
    def test_errors_point_at_the_mistake(self, text: str, message: str, caret: int) -> None:
        with pytest.raises(RuleError) as info:
            Rule.parse(text)
        error = info.value
        assert isinstance(error, InvalidArgumentError)
        assert message.split("; did you mean")[0] in str(error)
        assert error.position == caret and error.text == text
        lines = str(error).splitlines()
        assert lines[1] == f"  {text}" and lines[2] == "  " + " " * caret + "^"
        assert "rules look like: drift_share >= 0.3 for 2 windows" in lines[3]

    def test_a_close_name_is_suggested(self) -> None:
        with pytest.raises(RuleError, match="did you mean drift_share"):
            Rule.parse("drift_shar > 0.3")
        with pytest.raises(RuleError, match="did you mean latency_p99_ms"):
            Rule.parse("latency_p99 > 50")

    def test_empty_and_non_text_rules_are_refused(self) -> None:
        with pytest.raises(RuleError, match="empty"):
            Rule.parse("   ")
        with pytest.raises(RuleError, match="text such as"):
            Rule.parse(0.8)  # type: ignore[arg-type]

    def test_an_unknown_column_is_named_with_the_known_ones(self) -> None:
        rule = Rule.parse("null_fraction(presure) > 0.05")
        rule.check_columns(["pressure", "temperature", "presure"])
        with pytest.raises(RuleError) as info:
            rule.check_columns(["pressure", "temperature"])
        text = str(info.value)
        assert "unknown column 'presure'; did you mean pressure?" in text
        assert "(the monitor's columns: pressure, temperature)" in text
        assert text.splitlines()[2] == "  " + " " * len("null_fraction(") + "^"
        Rule.parse("f1 < 0.8").check_columns([])  # no column: nothing to check
        with pytest.raises(RuleError, match="columns: none"):
            Rule.parse("psi(`a b`) > 1").check_columns([])


class TestEvaluating:
    def test_a_condition_holds_or_not_in_one_window(self) -> None:
        rule = Rule.parse("f1 < 0.8")
        assert rule.holds({"f1": 0.7}) is True
        assert rule.holds({"f1": 0.8}) is False
        assert rule.holds({"f1": None}) is None
        assert rule.holds({"f1": math.nan}) is None
        assert rule.holds({"accuracy": 0.1}) is None
        band = Rule.parse("prediction_rate outside 100..5000")
        assert [band.holds({"prediction_rate": v}) for v in (99, 100, 5000, 5001)] == [
            True,
            False,
            False,
            True,
        ]
        assert Rule.parse("drifted(x) != 0").holds({"drifted(x)": 1.0}) is True
        assert Rule.parse("rows >= 10").holds({"rows": 10}) is True
        assert Rule.parse("rows <= 10").holds({"rows": 11}) is False
        assert Rule.parse("rows == 10").holds({"rows": 10}) is True

    def test_for_n_windows_means_n_in_a_row(self) -> None:
        rule = Rule.parse("drift_share >= 0.3 for 2 windows")
        shares = [0.1, 0.5, 0.2, 0.4, 0.6, 0.7, 0.1]
        outcomes = rule.evaluate([{"drift_share": s} for s in shares])
        assert [o.state for o in outcomes] == ["ok", "pending", "ok", "pending", "firing", "firing", "ok"]
        assert [o.streak for o in outcomes] == [0, 1, 0, 1, 2, 3, 0]
        assert outcomes[4].value == 0.6

    def test_a_missing_metric_never_fires_and_does_not_count(self) -> None:
        rule = Rule.parse("f1 < 0.8 for 2 windows")
        windows = [{"f1": 0.7}, {"f1": None}, {}, {"f1": 0.6}, {"f1": None}]
        outcomes = rule.evaluate(windows)
        assert [o.state for o in outcomes] == ["pending", "missing", "missing", "firing", "missing"]
        assert [o.streak for o in outcomes] == [1, 1, 1, 2, 2]
        single = Rule.parse("f1 < 0.8")
        assert [o.state for o in single.evaluate([{"f1": None}, {"f1": 0.5}])] == ["missing", "firing"]
        assert single.evaluate([]) == []

    def test_a_message_line_shows_the_value(self) -> None:
        rule = Rule.parse("psi(temperature) > 0.2")
        assert rule.describe(0.31) == "psi(temperature) = 0.31 (psi(temperature) > 0.2)"
        assert rule.describe(None).startswith("psi(temperature) = missing")
