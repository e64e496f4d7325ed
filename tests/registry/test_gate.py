"""Gates: the rule grammar, every rule form passing and failing, no baseline, errors, and real models."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_regression
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from loopml.errors import InvalidArgumentError
from loopml.registry._evaluate import Evaluation
from loopml.registry._gate import GateDecision, Rule, decide, gate, parse_rule, parse_rules

FEATURES = [f"x{i}" for i in range(5)]


def ev(
    metrics: dict[str, float],
    *,
    task: str = "classification",
    latency: dict[str, float] | None = None,
    slices: dict[str, dict[str, dict[str, float]]] | None = None,
) -> Evaluation:
    return Evaluation(
        task=task,  # type: ignore[arg-type]
        target="y",
        n_rows=100,
        metrics=metrics,
        latency=latency
        or {"batch_rows": 100.0, "batch_ms": 2.0, "per_row_us": 20.0, "p50_ms": 2.0, "p95_ms": 3.0},
        slices=slices or {},
    )


# --- parsing ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "metric", "op", "value", "baseline_op", "column"),
    [
        ("f1 >= baseline - 0.01", "relative", "f1", ">=", 0.01, "-", None),
        ("rmse <= baseline * 1.02", "relative", "rmse", "<=", 1.02, "*", None),
        ("mae < baseline + 2", "relative", "mae", "<", 2.0, "+", None),
        ("accuracy >= baseline", "relative", "accuracy", ">=", 0.0, "+", None),
        ("accuracy >= 0.8", "absolute", "accuracy", ">=", 0.8, None, None),
        ("r2 > -0.5", "absolute", "r2", ">", -0.5, None, None),
        ("latency.p95_ms <= 50", "latency", "latency.p95_ms", "<=", 50.0, None, None),
        ("latency.per_row_us <= baseline * 1.5", "latency", "latency.per_row_us", "<=", 1.5, "*", None),
        ("slice(region).f1 >= baseline - 0.05", "slice", "f1", ">=", 0.05, "-", "region"),
        ("slice(`sales region`).recall >= 0.6", "slice", "recall", ">=", 0.6, None, "sales region"),
        ("max_slice_drop(f1) <= 0.03", "max_slice_drop", "f1", "<=", 0.03, None, None),
        ("max_slice_drop(rmse, 'shop') <= 1e-1", "max_slice_drop", "rmse", "<=", 0.1, None, "shop"),
    ],
)
def test_parse_every_form(
    text: str, kind: str, metric: str, op: str, value: float, baseline_op: str | None, column: str | None
) -> None:
    rule = parse_rule(f"  {text} ")
    assert (rule.kind, rule.metric, rule.op, rule.baseline_op, rule.column) == (
        kind,
        metric,
        op,
        baseline_op,
        column,
    )
    assert rule.value == pytest.approx(value)
    assert rule.text == str(rule) == text


@pytest.mark.parametrize(
    ("text", "message", "caret"),
    [
        ("f1score >= 0.8", "unknown metric 'f1score'; did you mean f1", 0),
        ("f1 = 0.8", "'=' is not a comparison", 3),
        ("f1 0.8", "expected a comparison", 3),
        ("f1 >= baseline -", "expected a number, found the end of the rule", 16),
        ("f1 >= baseline / 2", "expected \\+ - or \\* and a number after baseline", 15),
        ("f1 >= champion", "expected a number or 'baseline'", 6),
        ("f1 >= 0.8 and", "unexpected 'and' after the rule", 10),
        ("latency_p95_ms <= 50", "latency.p95_ms", 0),
        ("latency.p99_ms <= 50", "unknown latency key 'p99_ms'", 8),
        ("slice(region.f1 >= 0.2", "expected '\\)' after the slice column", 12),
        ("slice(region) >= 0.2", "expected '.' and a metric", 14),
        ("max_slice_drop(f1) <= baseline", "compare it with a number", 22),
        ("f1 >= 0.8 $", "unexpected character '\\$'", 10),
    ],
)
def test_parse_errors_point_at_the_bad_part(text: str, message: str, caret: int) -> None:
    with pytest.raises(InvalidArgumentError, match=message) as info:
        parse_rule(text)
    lines = str(info.value).splitlines()
    assert lines[1] == f"  {text}"
    assert lines[2] == "  " + " " * caret + "^"


def test_parse_rules_takes_text_and_rules_and_refuses_nothing() -> None:
    rule = parse_rule("f1 >= 0.5")
    assert parse_rules([rule, "rmse <= 3"])[0] is rule
    assert len(parse_rules("f1 >= 0.5")) == 1
    with pytest.raises(InvalidArgumentError, match="at least one rule"):
        parse_rules([])
    with pytest.raises(InvalidArgumentError, match="empty"):
        parse_rule("   ")


# --- deciding ---------------------------------------------------------------------------------------------


def test_relative_rule_reason_reads_like_the_rule() -> None:
    decision = decide(ev({"f1": 0.842}), ev({"f1": 0.841}), ["f1 >= baseline - 0.01"])
    (result,) = decision.results
    assert result.reason == "f1 0.842 >= 0.831 (baseline 0.841 - 0.01): pass"
    assert (result.candidate, result.baseline, result.threshold) == (0.842, 0.841, pytest.approx(0.831))
    assert decision.passed and decision.reason == "all 1 rules passed"

    failed = decide(ev({"f1": 0.82}), ev({"f1": 0.841}), ["f1 >= baseline - 0.01"])
    assert not failed.passed
    assert failed.results[0].reason == "f1 0.820 < 0.831 (baseline 0.841 - 0.01): fail"
    assert failed.reason == "1 of 1 rules failed: f1 0.820 < 0.831 (baseline 0.841 - 0.01): fail"


@pytest.mark.parametrize(
    ("rule", "candidate", "baseline", "passed"),
    [
        ("f1 >= baseline - 0.01", {"f1": 0.835}, {"f1": 0.84}, True),
        ("f1 >= baseline - 0.01", {"f1": 0.82}, {"f1": 0.84}, False),
        ("accuracy >= baseline", {"accuracy": 0.9}, {"accuracy": 0.9}, True),
        ("accuracy > baseline", {"accuracy": 0.9}, {"accuracy": 0.9}, False),
        ("rmse <= baseline * 1.02", {"rmse": 10.1}, {"rmse": 10.0}, True),
        ("rmse <= baseline * 1.02", {"rmse": 10.3}, {"rmse": 10.0}, False),
        ("mae < baseline + 0.5", {"mae": 1.4}, {"mae": 1.0}, True),
        ("mae < baseline + 0.5", {"mae": 1.5}, {"mae": 1.0}, False),
        ("accuracy >= 0.8", {"accuracy": 0.81}, {"accuracy": 0.5}, True),
        ("accuracy >= 0.8", {"accuracy": 0.79}, {"accuracy": 0.99}, False),
        ("r2 > 0", {"r2": 0.3}, {"r2": 0.3}, True),
        ("r2 > 0", {"r2": -0.1}, {"r2": 0.3}, False),
    ],
)
def test_metric_rules_pass_and_fail(
    rule: str, candidate: dict[str, float], baseline: dict[str, float], passed: bool
) -> None:
    task = "regression" if set(candidate) & {"rmse", "mae", "r2"} else "classification"
    decision = decide(ev(candidate, task=task), ev(baseline, task=task), [rule])
    assert decision.passed is passed
    assert decision.results[0].reason.endswith("pass" if passed else "fail")


@pytest.mark.parametrize(
    ("rule", "candidate_p95", "passed"),
    [
        ("latency.p95_ms <= 50", 49.0, True),
        ("latency.p95_ms <= 50", 51.0, False),
        ("latency.p95_ms <= baseline * 1.2", 3.5, True),  # baseline p95 is 3.0
        ("latency.p95_ms <= baseline * 1.2", 3.7, False),
    ],
)
def test_latency_budget(rule: str, candidate_p95: float, passed: bool) -> None:
    latency = {
        "batch_rows": 100.0,
        "batch_ms": 2.0,
        "per_row_us": 20.0,
        "p50_ms": 2.0,
        "p95_ms": candidate_p95,
    }
    decision = decide(ev({"f1": 0.9}, latency=latency), ev({"f1": 0.9}), [rule])
    assert decision.passed is passed
    assert decision.results[0].reason.startswith(f"latency.p95_ms {candidate_p95:.3f} ")
    assert decision.candidate["latency.p95_ms"] == candidate_p95


def regions(north: float, south: float, metric: str = "f1") -> dict[str, dict[str, dict[str, float]]]:
    return {"region": {"north": {metric: north, "n_rows": 80.0}, "south": {metric: south, "n_rows": 20.0}}}


def test_slice_rules_pass_and_fail() -> None:
    baseline = ev({"f1": 0.80}, slices=regions(0.80, 0.80))
    fine = ev({"f1": 0.82}, slices=regions(0.83, 0.78))
    worse = ev({"f1": 0.82}, slices=regions(0.86, 0.70))

    relative = "slice(region).f1 >= baseline - 0.05"
    ok = decide(fine, baseline, [relative]).results[0]
    assert ok.passed and ok.slice == "region=south"
    assert ok.reason == "slice(region).f1: all 2 slices pass, closest region=south: f1 0.780 >= 0.750 " + (
        "(baseline 0.800 - 0.05): pass"
    )
    bad = decide(worse, baseline, [relative]).results[0]
    assert not bad.passed and bad.slice == "region=south" and bad.candidate == 0.70
    assert "1 of 2 slices fail, worst region=south: f1 0.700 < 0.750" in bad.reason

    floor = "slice(region).f1 >= 0.75"
    assert decide(fine, baseline, [floor]).passed
    assert not decide(worse, baseline, [floor]).passed
    assert decide(fine, None, [floor]).passed  # an absolute slice floor needs no baseline


def test_max_slice_drop_pass_and_fail_in_both_directions() -> None:
    baseline = ev({"f1": 0.80}, slices=regions(0.80, 0.80))
    assert decide(
        ev({"f1": 0.8}, slices=regions(0.82, 0.78)), baseline, ["max_slice_drop(f1) <= 0.03"]
    ).passed
    result = decide(
        ev({"f1": 0.8}, slices=regions(0.82, 0.70)), baseline, ["max_slice_drop(f1) <= 0.03"]
    ).results[0]
    assert not result.passed and result.slice == "region=south"
    assert result.candidate == pytest.approx(0.10) and result.threshold == 0.03
    assert (
        result.reason == "max_slice_drop(f1) 0.100 > 0.030 at region=south (f1 0.700, baseline 0.800): fail"
    )

    # rmse: smaller is better, so a slice whose rmse rose has dropped
    base = ev({"rmse": 5.0}, task="regression", slices=regions(5.0, 5.0, "rmse"))
    cand = ev({"rmse": 4.0}, task="regression", slices=regions(3.0, 6.0, "rmse"))
    assert not decide(cand, base, ["max_slice_drop(rmse, region) <= 0.5"]).passed
    assert decide(cand, base, ["max_slice_drop(rmse) <= 1.0"]).passed


def test_no_baseline_passes_relative_rules_with_the_reason_and_keeps_absolute_ones() -> None:
    candidate = ev({"f1": 0.6}, slices=regions(0.6, 0.6))
    rules = [
        "f1 >= baseline - 0.01",
        "slice(region).f1 >= baseline",
        "max_slice_drop(f1) <= 0.0",
        "f1 >= 0.5",
    ]
    decision = decide(candidate, None, rules)
    assert decision.passed and decision.baseline is None
    assert decision.reason == "all 4 rules passed (no baseline: first model)"
    assert all("no baseline: first model" in r.reason for r in decision.results[:3])

    strict = decide(candidate, None, ["f1 >= baseline", "f1 >= 0.7"])
    assert not strict.passed and [r.passed for r in strict.results] == [True, False]


def test_a_metric_the_evaluation_lacks_is_an_error() -> None:
    regression = ev({"mae": 1.0, "rmse": 2.0, "r2": 0.5, "mape": 0.1}, task="regression")
    with pytest.raises(InvalidArgumentError, match="has no metric 'roc_auc'"):
        decide(regression, None, ["roc_auc >= 0.7"])
    multiclass = ev({"accuracy": 0.8, "f1_weighted": 0.8, "f1_macro": 0.79})
    with pytest.raises(InvalidArgumentError, match="multiclass model: use f1_weighted"):
        decide(multiclass, multiclass, ["f1 >= baseline"])
    no_proba = ev({"accuracy": 0.8, "f1": 0.8})
    with pytest.raises(InvalidArgumentError, match="needs predict_proba"):
        decide(no_proba, None, ["log_loss <= 0.5"])


def test_slice_rules_on_unsliced_evaluations_are_errors() -> None:
    plain = ev({"f1": 0.8})
    with pytest.raises(InvalidArgumentError, match=r"no slices by 'region'.*slices=\['region'\]"):
        decide(plain, plain, ["slice(region).f1 >= baseline"])
    with pytest.raises(InvalidArgumentError, match="without slices"):
        decide(plain, plain, ["max_slice_drop(f1) <= 0.02"])
    sliced = ev({"f1": 0.8}, slices=regions(0.8, 0.8))
    with pytest.raises(InvalidArgumentError, match="the baseline evaluation has no slices"):
        decide(sliced, plain, ["max_slice_drop(f1) <= 0.02"])


def test_tasks_must_match() -> None:
    with pytest.raises(InvalidArgumentError, match="same task"):
        decide(ev({"f1": 0.8}), ev({"rmse": 1.0}, task="regression"), ["f1 >= 0.5"])


def test_decision_json_round_trip() -> None:
    baseline = ev({"f1": 0.80}, slices=regions(0.80, 0.80))
    candidate = ev({"f1": 0.82}, slices=regions(0.86, 0.70))
    decision = decide(
        candidate,
        baseline,
        ["f1 >= baseline", "max_slice_drop(f1) <= 0.05", Rule("f1 > 0.5", "absolute", "f1", ">", 0.5)],
    )
    assert not decision.passed and len(decision.failures) == 1
    doc = json.loads(json.dumps(decision.to_json(), allow_nan=False))
    assert GateDecision.from_json(doc) == decision
    with pytest.raises(InvalidArgumentError, match="malformed"):
        GateDecision.from_json({"passed": True})


def markdown_rows(text: str) -> list[list[str]]:
    """The cells of every table row in ``text``, split on unescaped pipes, escapes undone."""
    rows = []
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("| ---"):
            cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
            rows.append([c.strip().replace("\\|", "|") for c in cells])
    return rows


def test_decision_markdown_has_the_verdict_and_one_row_per_rule() -> None:
    baseline = ev({"f1": 0.80}, slices={"a|b": regions(0.80, 0.80)["region"]})
    candidate = ev({"f1": 0.82}, slices={"a|b": regions(0.86, 0.70)["region"]})
    rules = ["f1 >= baseline - 0.01", "slice(`a|b`).f1 >= baseline - 0.05", "latency.p95_ms <= 50"]
    text = decide(candidate, baseline, rules).to_markdown(candidate="clf:2", baseline="clf:1")
    assert text.startswith("## Gate FAILED: `clf:2` against `clf:1`\n")
    assert "1 of 3 rules failed" in text
    rows = markdown_rows(text)
    assert rows[0] == ["Rule", "Candidate", "Baseline", "Threshold", "Verdict", "Reason"]
    assert rows[1][:5] == ["`f1 >= baseline - 0.01`", "0.820", "0.800", "0.790", "pass"]
    assert rows[2][:5] == [
        "`` slice(`a|b`).f1 >= baseline - 0.05 ``",
        "0.700 (a|b=south)",
        "0.800",
        "0.750",
        "**FAIL**",
    ]
    assert rows[2][5].startswith("slice(a|b).f1: 1 of 2 slices fail") and rows[2][5].endswith(": fail")
    assert rows[3][:5] == ["`latency.p95_ms <= 50`", "3.000", "–", "50.000", "pass"]
    figures = {r[0]: r[1:] for r in rows[4:]}
    assert figures["f1"] == ["0.820", "0.800"] and figures["latency.p95_ms"] == ["3.000", "3.000"]

    first = decide(candidate, None, rules[:1]).to_markdown(candidate="clf:1")
    assert first.startswith("## Gate PASSED: `clf:1` against no baseline (first model)\n")
    assert markdown_rows(first)[1][2:5] == ["–", "–", "pass"]


# --- with real models -------------------------------------------------------------------------------------


def classification_data(seed: int = 0) -> pd.DataFrame:
    x, y = make_classification(n_samples=800, n_features=5, n_informative=3, flip_y=0.02, random_state=seed)
    df = pd.DataFrame(x, columns=FEATURES)
    df["region"] = np.where(x[:, 2] > 0.5, "south", "north")
    df["y"] = y
    return df


def test_gate_with_real_models() -> None:
    df = classification_data()
    train, test = df.iloc[:500], df.iloc[500:]
    strong = LogisticRegression().fit(train[FEATURES], train["y"])
    weak = DummyClassifier(strategy="most_frequent").fit(train[FEATURES], train["y"])
    rules = [
        "accuracy >= baseline - 0.01",
        "roc_auc >= 0.7",
        "latency.per_row_us <= 1e9",
        "max_slice_drop(accuracy) <= 0.05",
    ]

    decision, cand, base = gate(strong, weak, test, rules, target="y", slices=["region"], repeats=2)
    assert decision.passed, decision.reason
    assert base is not None and cand.metrics["accuracy"] > base.metrics["accuracy"]
    assert decision.baseline is not None and decision.baseline["accuracy"] == base.metrics["accuracy"]

    backwards, _, _ = gate(weak, strong, test, rules, target="y", slices=["region"], repeats=2)
    assert not backwards.passed
    assert {r.rule for r in backwards.failures} == {rules[0], rules[1], rules[3]}

    first, _, none = gate(strong, None, test, rules, target="y", slices=["region"], repeats=2)
    assert first.passed and none is None and "no baseline: first model" in first.reason


def test_gate_slices_the_columns_its_rules_name_and_parses_before_evaluating() -> None:
    x, y = make_regression(n_samples=300, n_features=5, noise=5.0, random_state=3)
    df = pd.DataFrame(x, columns=FEATURES)
    df["shop"] = np.where(x[:, 0] > 0, "a", "b")
    df["y"] = y
    good = LinearRegression().fit(df[FEATURES], df["y"])
    mean = DummyRegressor().fit(df[FEATURES], df["y"])
    decision, cand, _ = gate(good, mean, df, ["slice(shop).rmse <= baseline * 0.5"], target="y", repeats=1)
    assert decision.passed and set(cand.slices) == {"shop"}

    class Exploding:
        def predict(self, x: Any) -> Any:  # pragma: no cover - a bad rule stops gate before any predict
            raise AssertionError("evaluated despite a bad rule")

    with pytest.raises(InvalidArgumentError, match="unknown metric"):
        gate(Exploding(), None, df, ["rsme <= 3"], target="y")


class SliceWorse:
    """A candidate built on purpose: a strong model everywhere but in one small region, where it always
    answers the negative class: its overall f1 beats a weak baseline's while that region's f1 falls to 0."""

    def __init__(self, good: Any, region: str) -> None:
        self.good, self.region = good, region

    def predict(self, x: pd.DataFrame) -> Any:
        out = self.good.predict(x[FEATURES])
        out[(x["region"] == self.region).to_numpy()] = 0
        return out


def test_slice_rule_catches_a_slice_that_got_worse_while_the_overall_metric_improved() -> None:
    df = classification_data(seed=4)
    df["region"] = np.where(df["x2"] > 2.0, "south", "north")  # about a tenth of the rows
    train, test = df.iloc[:400], df.iloc[400:]
    baseline = DecisionTreeClassifier(max_depth=1, random_state=0).fit(train[FEATURES], train["y"])  # a stump
    forest = RandomForestClassifier(n_estimators=60, random_state=0).fit(train[FEATURES], train["y"])
    candidate = SliceWorse(forest, "south")

    rules = ["f1 >= baseline", "max_slice_drop(f1) <= 0.05", "slice(region).f1 >= baseline - 0.05"]
    decision, cand, base = gate(candidate, baseline, test, rules, target="y", slices=["region"], repeats=1)

    assert base is not None
    assert cand.metrics["f1"] > base.metrics["f1"]  # better overall ...
    south, south_before = cand.slices["region"]["south"]["f1"], base.slices["region"]["south"]["f1"]
    assert south == 0 < south_before - 0.05  # ... and worse in the south
    overall, drop, per_slice = decision.results
    assert overall.passed
    assert not drop.passed and drop.slice == "region=south" and drop.candidate == pytest.approx(south_before)
    assert not per_slice.passed and per_slice.slice == "region=south"
    assert not decision.passed and decision.reason.startswith("2 of 3 rules failed")
