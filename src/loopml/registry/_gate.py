"""Evaluation gates: does a candidate model beat the baseline (the champion) by the rules a team sets?

``decide(candidate, baseline, rules)`` compares two ``Evaluation`` results and returns a ``GateDecision``
with one ``RuleResult`` per rule; ``gate(candidate_model, baseline_model, data, rules, target=...)``
evaluates both models on the same data first. Deciding is pure: recording the decision is the caller's.
``GateDecision.to_json()`` is what gets recorded; ``to_markdown()`` is the report a CI job summary or a
pull-request comment shows (``loopml gate --format markdown``).

**Rules** are one comparison each::

    rule   := left OP right                OP: >=  <=  >  <
    left   := METRIC                       accuracy, f1, rmse, ... (the keys of Evaluation.metrics)
            | latency.KEY                  KEY: batch_ms, per_row_us, p50_ms, p95_ms
            | slice(COLUMN).METRIC         the metric in every slice of COLUMN
            | max_slice_drop(METRIC)       the largest loss of the metric in any slice of any sliced column
            | max_slice_drop(METRIC, COLUMN)
    right  := NUMBER                       an absolute threshold (a floor, a ceiling, a latency budget)
            | baseline                     the same figure of the baseline
            | baseline + NUMBER  |  baseline - NUMBER  |  baseline * NUMBER

COLUMN is a name, or any text in quotes or backquotes (``slice(`sales region`).f1``). Examples::

    f1 >= baseline - 0.01                  relative: at most 0.01 below the baseline's f1
    rmse <= baseline * 1.02                relative: at most 2 % above the baseline's rmse
    accuracy >= 0.8                        absolute floor
    latency.p95_ms <= 50                   latency budget (latency.p95_ms <= baseline * 1.2 works too)
    slice(region).f1 >= baseline - 0.05    every region: at most 0.05 below the same region of the baseline
    slice(region).recall >= 0.6            every region: a floor
    max_slice_drop(f1) <= 0.03             no slice loses more than 0.03 of f1 against the baseline

A *drop* is how much worse a slice got: ``baseline - candidate`` for metrics where larger is better (f1,
accuracy, r2, ...), ``candidate - baseline`` where smaller is better (rmse, mae, mape, log_loss,
calibration_error), so ``max_slice_drop(rmse) <= 0.5`` means no slice's rmse rose by more than 0.5.

**Without a baseline** (the very first model), every rule that compares with the baseline (``baseline`` on
the right, or ``max_slice_drop``) passes with the reason "no baseline: first model", so the first model can
become the champion; absolute rules still apply.

**Errors** (``InvalidArgumentError``, which a CLI turns into exit code 2, unlike a failed gate): a rule that
does not parse (the message points at the bad part), an unknown metric or latency key, a metric the
evaluations lack (``roc_auc`` of a regressor, ``f1`` of a multiclass model, which has ``f1_weighted``), a
slice rule on a column the evaluations were not sliced by, and an empty list of rules.

In a slice rule, slices where the metric is undefined (ROC AUC of a slice with one class) or that the
baseline does not have are skipped and counted in the reason.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import pandas as pd

from loopml.errors import InvalidArgumentError
from loopml.registry._evaluate import HIGHER_IS_BETTER, METRICS, Evaluation, evaluate

RuleKind = Literal["absolute", "relative", "latency", "slice", "max_slice_drop"]
Op = Literal[">=", "<=", ">", "<"]
BaselineOp = Literal["+", "-", "*"]

LATENCY_RULE_KEYS: tuple[str, ...] = ("batch_ms", "per_row_us", "p50_ms", "p95_ms")
NO_BASELINE = "no baseline: first model"
FORMAT = "loopml.gate/1"

_NEGATED: dict[str, str] = {">=": "<", "<=": ">", ">": "<=", "<": ">="}


@dataclass(frozen=True)
class Rule:
    """One parsed rule. ``metric`` is a metric name, or ``latency.KEY`` for latency rules; ``value`` is the
    number on the right; ``baseline_op`` says how it combines with the baseline (``None``: ``value`` is the
    threshold itself); ``column`` is the slice column of a slice rule (``None`` for ``max_slice_drop`` over
    every sliced column)."""

    text: str
    kind: RuleKind
    metric: str
    op: Op
    value: float
    baseline_op: BaselineOp | None = None
    column: str | None = None

    @property
    def needs_baseline(self) -> bool:
        return self.baseline_op is not None or self.kind == "max_slice_drop"

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class RuleResult:
    """How one rule fared. ``candidate`` is the value compared (for ``max_slice_drop``, the largest drop;
    for a slice rule, the worst slice's value), ``threshold`` what it was compared with, ``baseline`` the
    baseline figure the threshold came from, ``slice`` the slice they belong to (``column=value``)."""

    rule: str
    passed: bool
    reason: str
    candidate: float | None = None
    baseline: float | None = None
    threshold: float | None = None
    slice: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "passed": self.passed,
            "reason": self.reason,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "threshold": self.threshold,
            "slice": self.slice,
        }

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RuleResult:
        return cls(
            rule=str(doc["rule"]),
            passed=bool(doc["passed"]),
            reason=str(doc["reason"]),
            candidate=_opt_float(doc.get("candidate")),
            baseline=_opt_float(doc.get("baseline")),
            threshold=_opt_float(doc.get("threshold")),
            slice=doc.get("slice"),
        )


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict: ``passed`` when every rule passed; ``reason`` in one line; one result per rule.
    ``candidate`` and ``baseline`` hold the overall metrics and ``latency.*`` figures compared."""

    passed: bool
    reason: str
    results: tuple[RuleResult, ...]
    candidate: dict[str, float]
    baseline: dict[str, float] | None = None

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.results if not r.passed]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "passed": self.passed,
            "reason": self.reason,
            "results": [r.to_json() for r in self.results],
            "candidate": dict(self.candidate),
            "baseline": None if self.baseline is None else dict(self.baseline),
        }

    def to_markdown(self, *, candidate: str | None = None, baseline: str | None = None) -> str:
        """The decision as Markdown for a CI job summary or a pull-request comment: a heading with PASSED or
        FAILED, the one-line reason, a table with one row per rule (rule, candidate, baseline, threshold,
        verdict, reason), and every figure compared, folded. ``candidate`` and ``baseline`` are the
        references shown in the heading (``None`` baseline: the first model)."""
        verdict = "PASSED" if self.passed else "FAILED"
        title = f"## Gate {verdict}"
        if candidate is not None:
            against = "no baseline (first model)" if baseline is None else _code(baseline)
            title += f": {_code(candidate)} against {against}"
        lines = [
            title,
            "",
            _cell(self.reason),
            "",
            "| Rule | Candidate | Baseline | Threshold | Verdict | Reason |",
            "| --- | ---: | ---: | ---: | --- | --- |",
        ]
        for r in self.results:
            value = _md_num(r.candidate) + (f" ({_cell(r.slice)})" if r.slice else "")
            mark = "pass" if r.passed else "**FAIL**"
            lines.append(
                f"| {_code(r.rule)} | {value} | {_md_num(r.baseline)} | {_md_num(r.threshold)} "
                f"| {mark} | {_cell(r.reason)} |"
            )
        lines += ["", "<details><summary>Every figure compared</summary>", ""]
        lines += ["| Figure | Candidate | Baseline |", "| --- | ---: | ---: |"]
        base = self.baseline or {}
        for name in sorted({*self.candidate, *base}):
            lines.append(
                f"| {_cell(name)} | {_md_num(self.candidate.get(name))} | {_md_num(base.get(name))} |"
            )
        lines += ["", "</details>", ""]
        return "\n".join(lines)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> GateDecision:
        fmt = doc.get("format", FORMAT)
        if fmt != FORMAT:
            raise InvalidArgumentError(
                f"this is not a gate decision this loopml can read (format {fmt!r}, expected {FORMAT!r})"
            )
        try:
            baseline = doc.get("baseline")
            return cls(
                passed=bool(doc["passed"]),
                reason=str(doc["reason"]),
                results=tuple(RuleResult.from_json(r) for r in doc["results"]),
                candidate={str(k): float(v) for k, v in doc["candidate"].items()},
                baseline=None if baseline is None else {str(k): float(v) for k, v in baseline.items()},
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"a stored gate decision is malformed ({type(exc).__name__}: {exc})"
            ) from exc


# --- parsing ----------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<quoted>`[^`]*`|'[^']*'|"[^"]*")
      | (?P<op>>=|<=|==|!=|=>|=<|[<>=!])
      | (?P<punct>[().,+\-*/%])
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # number, name, quoted, op, punct, end
    text: str
    pos: int


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            out.append(_Tok("end", "", pos))
            return out
        m = _TOKEN.match(text, pos)
        if m is None or m.lastgroup is None:
            raise _error(text, pos, f"unexpected character {text[pos]!r}")
        start = m.start(m.lastgroup)
        out.append(_Tok(m.lastgroup, m.group(m.lastgroup), start))
        pos = m.end()


def _error(text: str, position: int, message: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"gate rule {text!r}: {message}\n  {text}\n  {' ' * position}^\n"
        "  rules look like: f1 >= baseline - 0.01, rmse <= baseline * 1.02, accuracy >= 0.8, "
        "latency.p95_ms <= 50, slice(region).f1 >= baseline - 0.05, max_slice_drop(f1) <= 0.03"
    )


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def next(self) -> _Tok:
        tok = self.toks[self.i]
        if tok.kind != "end":
            self.i += 1
        return tok

    def fail(self, tok: _Tok, message: str) -> InvalidArgumentError:
        return _error(self.text, tok.pos, message)

    def expect(self, text: str, what: str) -> _Tok:
        tok = self.next()
        if tok.text != text or tok.kind not in ("punct", "op"):
            raise self.fail(tok, f"expected {what}, found {_describe(tok)}")
        return tok

    def metric(self) -> str:
        tok = self.next()
        if tok.kind != "name":
            raise self.fail(tok, f"expected a metric name, found {_describe(tok)}")
        if tok.text not in HIGHER_IS_BETTER:
            raise self.fail(tok, f"unknown metric {tok.text!r}{_suggest(tok.text, METRICS)}")
        return tok.text

    def column(self) -> str:
        tok = self.next()
        if tok.kind == "name":
            return tok.text
        if tok.kind == "quoted" and len(tok.text) > 2:
            return tok.text[1:-1]
        raise self.fail(tok, f"expected a column name, found {_describe(tok)}")

    def number(self) -> float:
        sign = 1.0
        if self.peek().text in ("-", "+") and self.peek().kind == "punct":
            sign = -1.0 if self.next().text == "-" else 1.0
        tok = self.next()
        if tok.kind != "number":
            raise self.fail(tok, f"expected a number, found {_describe(tok)}")
        return sign * float(tok.text)

    def parse(self) -> Rule:
        head = self.peek()
        column: str | None = None
        if head.kind == "name" and head.text == "slice":
            self.next()
            self.expect("(", "'(' after slice")
            column = self.column()
            self.expect(")", "')' after the slice column")
            self.expect(".", "'.' and a metric after slice(...)")
            kind: RuleKind = "slice"
            metric = self.metric()
        elif head.kind == "name" and head.text == "max_slice_drop":
            self.next()
            self.expect("(", "'(' after max_slice_drop")
            kind, metric = "max_slice_drop", self.metric()
            if self.peek().text == ",":
                self.next()
                column = self.column()
            self.expect(")", "')' (or ', COLUMN)') after the metric")
        elif head.kind == "name" and head.text == "latency":
            self.next()
            self.expect(".", f"'.' and a latency key ({', '.join(LATENCY_RULE_KEYS)})")
            key = self.next()
            if key.kind != "name" or key.text not in LATENCY_RULE_KEYS:
                raise self.fail(
                    key, f"unknown latency key {key.text!r}: use one of {', '.join(LATENCY_RULE_KEYS)}"
                )
            kind, metric = "latency", f"latency.{key.text}"
        elif head.kind == "name" and head.text.startswith("latency_"):
            raise self.fail(
                head, f"write latency figures with a dot: latency.{head.text.removeprefix('latency_')}"
            )
        else:
            kind, metric = "absolute", self.metric()

        op_tok = self.next()
        if op_tok.kind != "op":
            raise self.fail(op_tok, f"expected a comparison (>=, <=, > or <), found {_describe(op_tok)}")
        if op_tok.text not in _NEGATED:
            raise self.fail(
                op_tok, f"{op_tok.text!r} is not a comparison a gate can use: write >=, <=, > or <"
            )
        op = cast(Op, op_tok.text)

        baseline_op: BaselineOp | None = None
        right = self.peek()
        if right.kind == "name" and right.text == "baseline":
            self.next()
            if kind == "max_slice_drop":
                raise self.fail(
                    right, "max_slice_drop is already measured against the baseline: compare it with a number"
                )
            after = self.peek()
            if after.kind == "punct" and after.text in ("+", "-", "*"):
                baseline_op = cast(BaselineOp, self.next().text)
                value = self.number()
            elif after.kind == "end":
                baseline_op, value = "+", 0.0
            else:
                raise self.fail(
                    after, f"expected + - or * and a number after baseline, found {_describe(after)}"
                )
            if kind == "absolute":
                kind = "relative"
        elif right.kind == "name":
            raise self.fail(right, f"expected a number or 'baseline', found {right.text!r}")
        else:
            value = self.number()
        end = self.next()
        if end.kind != "end":
            raise self.fail(end, f"unexpected {_describe(end)} after the rule")
        if not math.isfinite(value):
            raise self.fail(right, "the number must be finite")
        return Rule(self.text, kind, metric, op, value, baseline_op, column)


def _describe(tok: _Tok) -> str:
    return "the end of the rule" if tok.kind == "end" else repr(tok.text)


def _suggest(name: str, choices: Iterable[str]) -> str:
    if name.startswith("latency"):
        return f"; latency figures are written latency.KEY ({', '.join(LATENCY_RULE_KEYS)})"
    names = list(choices)
    prefixed = [m for m in names if name.startswith(m) or m.startswith(name)]
    close = list(dict.fromkeys([*difflib.get_close_matches(name, names, n=3), *prefixed]))[:3]
    known = ", ".join(METRICS)
    return f"; did you mean {' or '.join(close)}? (metrics: {known})" if close else f" (metrics: {known})"


def parse_rule(text: str) -> Rule:
    """Parses one rule (see the module documentation for the grammar)."""
    if not isinstance(text, str):
        raise InvalidArgumentError(f"a gate rule must be text such as 'f1 >= baseline - 0.01', not {text!r}")
    text = text.strip()
    if not text:
        raise InvalidArgumentError("a gate rule is empty: write one such as 'f1 >= baseline - 0.01'")
    return _Parser(text).parse()


def parse_rules(rules: Iterable[str | Rule] | str) -> list[Rule]:
    """Parses each rule (``Rule`` objects pass through); at least one rule is needed."""
    if isinstance(rules, str):
        rules = [rules]
    parsed = [rule if isinstance(rule, Rule) else parse_rule(rule) for rule in rules]
    if not parsed:
        raise InvalidArgumentError("a gate needs at least one rule, such as 'f1 >= baseline - 0.01'")
    return parsed


# --- deciding ---------------------------------------------------------------------------------------------


def decide(
    candidate: Evaluation, baseline: Evaluation | None, rules: Iterable[str | Rule] | str
) -> GateDecision:
    """Checks every rule against the candidate's evaluation and the baseline's (``None``: the first model)."""
    parsed = parse_rules(rules)
    if baseline is not None and baseline.task != candidate.task:
        raise InvalidArgumentError(
            f"the candidate was evaluated as {candidate.task} and the baseline as {baseline.task}: "
            "evaluate both with the same task="
        )
    results = tuple(_check(rule, candidate, baseline) for rule in parsed)
    failed = [r for r in results if not r.passed]
    if failed:
        reason = f"{len(failed)} of {len(results)} rules failed: " + "; ".join(r.reason for r in failed)
    else:
        reason = f"all {len(results)} rules passed" + (f" ({NO_BASELINE})" if baseline is None else "")
    return GateDecision(
        passed=not failed,
        reason=reason,
        results=results,
        candidate=_summary(candidate),
        baseline=None if baseline is None else _summary(baseline),
    )


def gate(
    candidate_model: Any,
    baseline_model: Any | None,
    data: pd.DataFrame,
    rules: Iterable[str | Rule] | str,
    *,
    target: str,
    task: str | None = None,
    slices: Sequence[str] = (),
    batch_size: int = 1000,
    repeats: int = 5,
    features: Sequence[str] | None = None,
    pos_label: Any = None,
) -> tuple[GateDecision, Evaluation, Evaluation | None]:
    """Evaluates the candidate and the baseline (``None``: there is none yet) on the same data, and decides.

    Columns named by slice rules are sliced even when ``slices`` leaves them out. Rules are parsed before
    anything is evaluated, so a typo fails fast."""
    parsed = parse_rules(rules)
    if isinstance(slices, str):
        raise InvalidArgumentError(f"slices must be a list of column names, e.g. slices=[{slices!r}]")
    columns = list(dict.fromkeys([*slices, *(r.column for r in parsed if r.column is not None)]))
    options: dict[str, Any] = {
        "target": target,
        "slices": columns,
        "batch_size": batch_size,
        "repeats": repeats,
        "features": features,
        "pos_label": pos_label,
    }
    cand = evaluate(candidate_model, data, task=task, **options)
    base = None if baseline_model is None else evaluate(baseline_model, data, task=cand.task, **options)
    return decide(cand, base, parsed), cand, base


def _summary(evaluation: Evaluation) -> dict[str, float]:
    return {**evaluation.metrics, **{f"latency.{k}": v for k, v in evaluation.latency.items()}}


def _check(rule: Rule, candidate: Evaluation, baseline: Evaluation | None) -> RuleResult:
    if rule.kind in ("slice", "max_slice_drop"):
        _require(rule, candidate, rule.metric, "candidate", overall=True)
        return (
            _check_slices(rule, candidate, baseline)
            if rule.kind == "slice"
            else _check_drop(rule, candidate, baseline)
        )
    value = _require(rule, candidate, rule.metric, "candidate")
    if rule.baseline_op is None:
        passed = _compare(value, rule.op, rule.value)
        return RuleResult(
            rule.text,
            passed,
            f"{rule.metric} {_relation(value, rule.op, rule.value, passed)}: {_verdict(passed)}",
            candidate=value,
            threshold=rule.value,
        )
    if baseline is None:
        return RuleResult(
            rule.text, True, f"{rule.metric} {_fmt(value)}, {NO_BASELINE}: pass", candidate=value
        )
    base = _require(rule, baseline, rule.metric, "baseline")
    threshold = _threshold(rule, base)
    passed = _compare(value, rule.op, threshold)
    return RuleResult(
        rule.text,
        passed,
        f"{rule.metric} {_relation(value, rule.op, threshold, passed)} ({_origin(rule, base)}): "
        f"{_verdict(passed)}",
        candidate=value,
        baseline=base,
        threshold=threshold,
    )


def _check_slices(rule: Rule, candidate: Evaluation, baseline: Evaluation | None) -> RuleResult:
    column = cast(str, rule.column)
    mine = _slices(rule, candidate, column, "candidate")
    label = f"slice({column}).{rule.metric}"
    if rule.baseline_op is not None and baseline is None:
        return RuleResult(rule.text, True, f"{label}: {NO_BASELINE}: pass")
    theirs = (
        None if baseline is None or rule.baseline_op is None else _slices(rule, baseline, column, "baseline")
    )
    # (margin above the threshold, slice value, candidate, baseline, threshold, passed): least margin is worst
    checked: list[tuple[float, str, float, float | None, float, bool]] = []
    skipped = 0
    for key, metrics in mine.items():
        value = metrics.get(rule.metric)
        base = None if theirs is None else theirs.get(key, {}).get(rule.metric)
        if value is None or (theirs is not None and base is None):
            skipped += 1
            continue
        threshold = rule.value if base is None else _threshold(rule, base)
        ok = _compare(value, rule.op, threshold)
        margin = value - threshold if rule.op in (">=", ">") else threshold - value
        checked.append((margin, key, value, base, threshold, ok))
    note = f" ({skipped} skipped: {rule.metric} undefined or not in the baseline)" if skipped else ""
    if not checked:
        return RuleResult(rule.text, True, f"{label}: no slice could be compared{note}: pass")
    margin, key, value, base, threshold, _ = min(checked)
    failed = sum(1 for c in checked if not c[5])
    where = f"{column}={key}"
    origin = "" if base is None else f" ({_origin(rule, base)})"
    detail = f"{where}: {rule.metric} {_relation(value, rule.op, threshold, not failed)}{origin}"
    if failed:
        reason = f"{label}: {failed} of {len(checked)} slices fail, worst {detail}{note}: fail"
    else:
        reason = f"{label}: all {len(checked)} slices pass, closest {detail}{note}: pass"
    return RuleResult(
        rule.text, not failed, reason, candidate=value, baseline=base, threshold=threshold, slice=where
    )


def _check_drop(rule: Rule, candidate: Evaluation, baseline: Evaluation | None) -> RuleResult:
    label = f"max_slice_drop({rule.metric}{'' if rule.column is None else ', ' + rule.column})"
    columns = [rule.column] if rule.column is not None else list(candidate.slices)
    if not columns:
        raise InvalidArgumentError(
            f"gate rule {rule.text!r}: the candidate was evaluated without slices: evaluate with "
            "slices=[...] (gate() slices by the columns its rules name) or write "
            "max_slice_drop(METRIC, COLUMN)"
        )
    mine = {column: _slices(rule, candidate, column, "candidate") for column in columns}
    if baseline is None:
        return RuleResult(rule.text, True, f"{label}: {NO_BASELINE}: pass")
    higher = HIGHER_IS_BETTER[rule.metric]
    worst: tuple[float, str, float, float] | None = None
    for column in columns:
        theirs = _slices(rule, baseline, column, "baseline")
        for key, metrics in mine[column].items():
            value, base = metrics.get(rule.metric), theirs.get(key, {}).get(rule.metric)
            if value is None or base is None:
                continue
            drop = base - value if higher else value - base
            if worst is None or drop > worst[0]:
                worst = (drop, f"{column}={key}", value, base)
    if worst is None:
        return RuleResult(rule.text, True, f"{label}: no slice in common with the baseline: pass")
    drop, where, value, base = worst
    passed = _compare(drop, rule.op, rule.value)
    reason = (
        f"{label} {_relation(drop, rule.op, rule.value, passed)} at {where} "
        f"({rule.metric} {_fmt(value)}, baseline {_fmt(base)}): {_verdict(passed)}"
    )
    return RuleResult(rule.text, passed, reason, candidate=drop, threshold=rule.value, slice=where)


def _require(rule: Rule, evaluation: Evaluation, metric: str, who: str, *, overall: bool = False) -> float:
    value = evaluation.metrics.get(metric) if overall else evaluation.metric(metric)
    if value is not None:
        return value
    if metric.startswith("latency."):
        have = ", ".join(f"latency.{k}" for k in evaluation.latency) or "none"
        raise InvalidArgumentError(
            f"gate rule {rule.text!r}: the {who} evaluation has no {metric} (it has {have})"
        )
    hint = ""
    if metric in ("precision", "recall", "f1") and f"{metric}_weighted" in evaluation.metrics:
        hint = f"; this is a multiclass model: use {metric}_weighted (or f1_macro)"
    elif metric == "roc_auc" and "roc_auc_ovr_weighted" in evaluation.metrics:
        hint = "; this is a multiclass model: use roc_auc_ovr_weighted"
    elif metric in (
        "roc_auc",
        "roc_auc_ovr_weighted",
        "log_loss",
        "calibration_error",
    ) and evaluation.task == ("classification"):
        hint = "; it needs predict_proba (and, for roc_auc, both classes in the data)"
    raise InvalidArgumentError(
        f"gate rule {rule.text!r}: the {who} evaluation ({evaluation.task}) has no metric {metric!r}{hint}; "
        f"it has {', '.join(evaluation.metrics) or 'none'}"
    )


def _slices(rule: Rule, evaluation: Evaluation, column: str, who: str) -> dict[str, dict[str, float]]:
    values = evaluation.slices.get(column)
    if values is None:
        sliced = ", ".join(evaluation.slices) or "none"
        raise InvalidArgumentError(
            f"gate rule {rule.text!r}: the {who} evaluation has no slices by {column!r} "
            f"(sliced by: {sliced}); evaluate with slices=[{column!r}]"
        )
    return values


def _threshold(rule: Rule, base: float) -> float:
    if rule.baseline_op == "-":
        return base - rule.value
    if rule.baseline_op == "*":
        return base * rule.value
    return base + rule.value


def _compare(value: float, op: str, threshold: float) -> bool:
    if op == ">=":
        return value >= threshold
    if op == "<=":
        return value <= threshold
    if op == ">":
        return value > threshold
    return value < threshold


def _origin(rule: Rule, base: float) -> str:
    if rule.baseline_op is None:
        return ""
    if rule.baseline_op == "+" and rule.value == 0:
        return f"baseline {_fmt(base)}"
    return f"baseline {_fmt(base)} {rule.baseline_op} {rule.value:g}"


def _relation(value: float, op: str, threshold: float, passed: bool) -> str:
    return f"{_fmt(value)} {op if passed else _NEGATED[op]} {_fmt(threshold)}"


def _verdict(passed: bool) -> str:
    return "pass" if passed else "fail"


def _fmt(value: float) -> str:
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        return f"{value:.3f}"
    return f"{value:.4g}"


def _md_num(value: float | None) -> str:
    return "–" if value is None else _fmt(value)


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _code(text: str) -> str:
    """Inline code in a table cell; a text holding backticks (``slice(`a b`).f1``) gets double ones."""
    text = _cell(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
