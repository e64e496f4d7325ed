"""Alert rules: when the metrics of a monitor's windows should raise an alert.

A rule is one condition on one window metric, optionally held over several windows::

    rule      := metric condition [for N window[s]]
    condition := OP NUMBER                     OP: >  >=  <  <=  ==  !=
               | outside LOW..HIGH             below LOW or above HIGH: a band the metric must stay in
    metric    := NAME                          a figure of the window (WINDOW_METRICS): rows, errors,
                                               error_rate, latency_p50_ms, latency_p99_ms, prediction_rate
                                               (rows per hour), drift_share, drifted, label_coverage, ...
               | PERFORMANCE                   realised performance by lm.evaluate's names: f1, accuracy, rmse
               | estimated.PERFORMANCE         estimated performance before labels arrive (CBPE)
               | check.CHECK                   a data check of the window (1 passed, 0 failed), named as in
                                               lm.data.checks: check.not_null(temperature)
               | FUNCTION(COLUMN)              a statistic of one column:
    FUNCTION  := drift | drifted               the column's drift statistic (its test's), its verdict (0/1)
               | null_fraction                 share of null values
               | new_categories | new_classes  distinct values (of a feature, of the target) the reference
                                               never had
               | TEST                          the statistic of a named drift test (DRIFT_TESTS): ks,
                                               chisquare, z, wasserstein, jensenshannon, psi, kl_div, ...

COLUMN is a name, or any text in backquotes or quotes (``psi(`sensor-1`) > 0.2``). Examples::

    drift_share >= 0.3 for 2 windows       a third of the columns drift, two windows in a row
    f1 < 0.80                              realised f1 (once labels arrive) below a floor
    estimated.f1 < 0.8                     the same, estimated before labels arrive
    psi(temperature) > 0.2                 one column's population stability index
    null_fraction(pressure) > 0.05         more than 5 % of pressure readings missing
    new_categories(product) > 0            a product the reference never saw
    new_classes(target) > 0                a class the model was never trained on
    prediction_rate outside 100..5000      traffic outside its usual band (rows per hour)
    latency_p99_ms > 50                    a latency budget
    error_rate > 0.01                      more than 1 % of requests failed

**Evaluating.** A rule reads one key of each window's flat metrics (``Rule.metric``: ``"psi(temperature)"``);
``Rule.requires`` lists the keys so that the engine computes a column statistic only when a rule asks for
it. In each window the condition holds, does not hold, or is unknown: a metric that is missing (or null: no
labels yet, not computable) never fires. A rule fires at a window when its condition held in N windows
in a row (``for N windows``; N is 1 without it); a window where the metric is missing is passed over: it
neither counts towards N nor breaks the run, so a gap in labels does not reset a streak.

**Errors** are ``RuleError`` (an ``InvalidArgumentError``): the message shows the rule with a caret under
the mistake: a rule that does not parse, an unknown metric or function (with the closest known names), a
band whose low end is above its high end, and (``Rule.check_columns``) a column the monitor does not have.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, cast

from loopml.errors import RuleError

Op = Literal[">", ">=", "<", "<=", "==", "!=", "outside"]
OutcomeState = Literal["firing", "pending", "ok", "missing"]

# the figures every window has (or has once labels arrive), by the names the engine writes
WINDOW_METRICS: tuple[str, ...] = (
    "rows",
    "errors",
    "error_rate",
    "latency_p50_ms",
    "latency_p99_ms",
    "prediction_rate",
    "drift_share",
    "drifted",
    "label_coverage",
    "labelled_rows",
)
# statistics of one column that are not a drift test's
COLUMN_FUNCTIONS: tuple[str, ...] = ("drift", "drifted", "null_fraction", "new_categories", "new_classes")
# the drift tests a rule may name, whose statistic the engine computes for that column on request
DRIFT_TESTS: tuple[str, ...] = (
    "ks",
    "chisquare",
    "z",
    "wasserstein",
    "jensenshannon",
    "psi",
    "kl_div",
    "hellinger",
    "domain_classifier",
)
EXAMPLES = (
    "drift_share >= 0.3 for 2 windows, f1 < 0.8, psi(temperature) > 0.2, "
    "prediction_rate outside 100..5000, estimated.f1 < 0.8"
)

_OPS: tuple[str, ...] = (">=", "<=", "==", "!=", ">", "<")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class RuleOutcome:
    """A rule at one window: ``firing`` (held N windows in a row), ``pending`` (holds, fewer than N so far),
    ``ok`` (does not hold) or ``missing`` (the metric is missing); ``streak`` counts the windows in a row."""

    state: OutcomeState
    value: float | None
    streak: int


@dataclass(frozen=True)
class Rule:
    """One parsed alert rule (see the module documentation). ``text`` is its canonical form, the same for
    ``f1<0.80`` and ``f1 < 0.8``, so alerts keyed on it survive a rule being rewritten by hand; ``metric``
    is the window-metric key it reads; ``function`` and ``column`` are set for a column statistic."""

    text: str
    metric: str
    op: Op
    threshold: float | None = None  # the number of OP NUMBER
    low: float | None = None  # the band of ``outside LOW..HIGH``
    high: float | None = None
    windows: int = 1
    function: str | None = None
    column: str | None = None
    source: str = field(default="", compare=False, repr=False)  # as written, for messages
    column_position: int | None = field(default=None, compare=False, repr=False)

    @classmethod
    def parse(cls, text: str | Rule) -> Rule:
        """Parse one rule; a ``Rule`` passes through."""
        if isinstance(text, Rule):
            return text
        if not isinstance(text, str):
            raise RuleError(f"an alert rule is text such as 'f1 < 0.8', not {text!r}")
        stripped = text.strip()
        if not stripped:
            raise RuleError(f"an alert rule is empty; write one such as: {EXAMPLES}")
        return _Parser(stripped).rule()

    @property
    def requires(self) -> frozenset[str]:
        """The window-metric keys this rule reads (what the engine must compute)."""
        return frozenset({self.metric})

    def check_columns(self, columns: Iterable[str]) -> None:
        """Raise ``RuleError`` when the rule names a column that is not among ``columns``."""
        if self.column is None:
            return
        known = list(dict.fromkeys(columns))
        if self.column in known:
            return
        close = difflib.get_close_matches(self.column, known, n=3)
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise RuleError(
            f"unknown column {self.column!r}{hint} (the monitor's columns: {', '.join(known) or 'none'})",
            self.source or self.text,
            self.column_position,
        )

    # -- evaluating
    def value(self, metrics: Mapping[str, float | None]) -> float | None:
        """The rule's metric in one window; None when missing, null or NaN."""
        raw = metrics.get(self.metric)
        if raw is None:
            return None
        number = float(raw)
        return None if math.isnan(number) else number

    def holds(self, metrics: Mapping[str, float | None]) -> bool | None:
        """Whether the condition holds in one window (None: the metric is missing)."""
        v = self.value(metrics)
        if v is None:
            return None
        if self.op == "outside":
            assert self.low is not None and self.high is not None
            return v < self.low or v > self.high
        t = self.threshold
        assert t is not None
        return {
            ">": v > t,
            ">=": v >= t,
            "<": v < t,
            "<=": v <= t,
            "==": v == t,
            "!=": v != t,
        }[self.op]

    def evaluate(self, windows: Sequence[Mapping[str, float | None]]) -> list[RuleOutcome]:
        """The rule's outcome at each window of a sequence (oldest first), one per window."""
        out: list[RuleOutcome] = []
        streak = 0
        for metrics in windows:
            holds = self.holds(metrics)
            value = self.value(metrics)
            if holds is None:  # passed over: neither counts nor breaks the run
                out.append(RuleOutcome("missing", None, streak))
                continue
            streak = streak + 1 if holds else 0
            state: OutcomeState = "ok" if not holds else ("firing" if streak >= self.windows else "pending")
            out.append(RuleOutcome(state, value, streak))
        return out

    def describe(self, value: float | None) -> str:
        """One line for a message: the rule and the value it saw."""
        shown = "missing" if value is None else _number_text(value)
        return f"{self.metric} = {shown} ({self.text})"

    def __str__(self) -> str:
        return self.text


def parse_rules(rules: Iterable[str | Rule] | str) -> list[Rule]:
    """Parse each rule (``Rule`` objects pass through)."""
    if isinstance(rules, str):
        rules = [rules]
    return [Rule.parse(r) if isinstance(r, str) else r for r in rules]


# --- parsing ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Tok:
    kind: str  # name, number, quoted, op, punct ( ) . .. + -, end
    text: str
    pos: int


class _Parser:
    """A recursive-descent parser over a lazy tokenizer: ``check.NAME(...)`` takes raw text, so tokens are
    read one at a time from a position rather than all at once."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._peeked: _Tok | None = None

    # -- tokens
    def peek(self) -> _Tok:
        if self._peeked is None:
            self._peeked = self._lex()
        return self._peeked

    def next(self) -> _Tok:
        tok = self.peek()
        self._peeked = None
        return tok

    def _lex(self) -> _Tok:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            self.pos = pos
            return _Tok("end", "", pos)
        if text.startswith("...", pos):
            raise self.fail(pos, "write a band with two dots: outside 100..5000")
        if text.startswith("..", pos):  # before numbers, so that 100..5000 is not read as 100. and .5000
            self.pos = pos + 2
            return _Tok("punct", "..", pos)
        if (m := _NUMBER.match(text, pos)) is not None:
            self.pos = m.end()
            return _Tok("number", m.group(), pos)
        if (m := _NAME.match(text, pos)) is not None:
            self.pos = m.end()
            return _Tok("name", m.group(), pos)
        char = text[pos]
        if char in "`'\"":
            close = text.find(char, pos + 1)
            if close < 0:
                raise self.fail(pos, f"this {char} is never closed")
            self.pos = close + 1
            return _Tok("quoted", text[pos + 1 : close], pos)
        for op in _OPS:
            if text.startswith(op, pos):
                self.pos = pos + len(op)
                return _Tok("op", op, pos)
        if char in "().,+-":
            self.pos = pos + 1
            return _Tok("punct", char, pos)
        if char in "=!":
            raise self.fail(pos, f"{char!r} alone is not a comparison: write ==, !=, >, >=, < or <=")
        raise self.fail(pos, f"unexpected character {char!r}")

    def fail(self, position: int, message: str) -> RuleError:
        return RuleError(message, self.text, position, hint=f"rules look like: {EXAMPLES}")

    def expect(self, text: str, what: str) -> _Tok:
        tok = self.next()
        if tok.text != text or tok.kind not in ("punct", "op"):
            raise self.fail(tok.pos, f"expected {what}, found {_describe(tok)}")
        return tok

    # -- grammar
    def rule(self) -> Rule:
        metric, function, column, column_pos = self.metric()
        op_tok = self.next()
        threshold = low = high = None
        if op_tok.kind == "name" and op_tok.text == "outside":
            op: Op = "outside"
            low_tok = self.peek()
            low = self.number()
            self.expect("..", "'..' between the low and the high end of the band (outside 100..5000)")
            high = self.number()
            if low > high:
                raise self.fail(low_tok.pos, f"the band {low:g}..{high:g} is empty: write the low end first")
        elif op_tok.kind == "op":
            op = cast(Op, op_tok.text)
            threshold = self.number()
        elif op_tok.kind == "name" and op_tok.text in ("inside", "between", "in"):
            raise self.fail(
                op_tok.pos, "only a band the metric must stay in is supported: 'outside LOW..HIGH'"
            )
        else:
            raise self.fail(
                op_tok.pos,
                f"expected a comparison (>, >=, <, <=, ==, !=) or 'outside', found {_describe(op_tok)}",
            )
        windows = 1
        tok = self.next()
        if tok.kind == "name" and tok.text == "for":
            count = self.next()
            if count.kind != "number" or not count.text.isdigit() or int(count.text) < 1:
                raise self.fail(
                    count.pos, f"expected a whole number of windows (1 or more), found {_describe(count)}"
                )
            windows = int(count.text)
            unit = self.next()
            if unit.kind != "name" or unit.text not in ("window", "windows"):
                raise self.fail(unit.pos, f"expected 'windows' after the count, found {_describe(unit)}")
            tok = self.next()
        if tok.kind != "end":
            raise self.fail(
                tok.pos, f"unexpected {_describe(tok)} after the rule (only 'for N windows' may follow)"
            )
        return Rule(
            text=_canonical(metric, op, threshold, low, high, windows),
            metric=metric,
            op=op,
            threshold=threshold,
            low=low,
            high=high,
            windows=windows,
            function=function,
            column=column,
            source=self.text,
            column_position=column_pos,
        )

    def metric(self) -> tuple[str, str | None, str | None, int | None]:
        """The metric key, and for a column statistic its function, column and the column's position."""
        head = self.next()
        if head.kind != "name":
            raise self.fail(
                head.pos, f"expected a metric such as f1, drift_share or psi(column), found {_describe(head)}"
            )
        name = head.text
        after = self.peek()
        if after.kind == "punct" and after.text == "(":
            self.next()
            if name not in COLUMN_FUNCTIONS and name not in DRIFT_TESTS:
                known = [*COLUMN_FUNCTIONS, *DRIFT_TESTS]
                raise self.fail(head.pos, f"unknown column statistic {name!r}{_suggest(name, known)}")
            col = self.next()
            if col.kind not in ("name", "quoted") or not col.text:
                raise self.fail(col.pos, f"expected a column name, found {_describe(col)}")
            close = self.peek()
            if col.kind == "name" and close.text != ")" and close.kind != "end":
                raise self.fail(close.pos, "quote a column name with other characters: psi(`sensor-1`)")
            self.expect(")", f"')' after the column of {name}(...)")
            return f"{name}({col.text})", name, col.text, col.pos + (1 if col.kind == "quoted" else 0)
        if name in ("estimated", "check"):
            self.expect(".", f"'.' after {name}")
            if name == "estimated":
                perf = self.next()
                performance = _performance_metrics()
                if perf.kind != "name" or perf.text not in performance:
                    raise self.fail(
                        perf.pos,
                        f"unknown performance metric {perf.text!r}{_suggest(perf.text, performance)}",
                    )
                return f"estimated.{perf.text}", None, None, None
            return f"check.{self.check_name()}", None, None, None
        if name in WINDOW_METRICS or name in _performance_metrics():
            return name, None, None, None
        if name in COLUMN_FUNCTIONS or name in DRIFT_TESTS:
            raise self.fail(after.pos, f"{name} is a statistic of one column: write {name}(COLUMN)")
        known = [*WINDOW_METRICS, *_performance_metrics(), "estimated.METRIC", "check.NAME"]
        raise self.fail(head.pos, f"unknown metric {name!r}{_suggest(name, known)}")

    def check_name(self) -> str:
        """A check's name as lm.data.checks writes it: ``not_null(x)``, ``in_range(x, 0, 10)``, or quoted."""
        tok = self.next()
        if tok.kind == "quoted" and tok.text:
            return tok.text
        if tok.kind != "name":
            raise self.fail(tok.pos, f"expected the name of a data check, found {_describe(tok)}")
        if self.peek().kind == "punct" and self.peek().text == "(":
            start = self.peek().pos
            end = _closing_paren(self.text, start)
            if end < 0:
                raise self.fail(start, "this '(' is never closed")
            self._peeked, self.pos = None, end + 1
            return tok.text + self.text[start : end + 1]
        return tok.text

    def number(self) -> float:
        sign = 1.0
        tok = self.next()
        if tok.kind == "punct" and tok.text in "+-":
            sign = -1.0 if tok.text == "-" else 1.0
            tok = self.next()
        if tok.kind != "number":
            raise self.fail(tok.pos, f"expected a number, found {_describe(tok)}")
        value = sign * float(tok.text)
        if not math.isfinite(value):
            raise self.fail(tok.pos, "the number must be finite")
        return value


def _closing_paren(text: str, start: int) -> int:
    """The index of the ')' that closes the '(' at ``start`` (quotes respected), or -1."""
    depth, quote = 0, ""
    for i in range(start, len(text)):
        char = text[i]
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _performance_metrics() -> tuple[str, ...]:
    # loaded on first parse: the registry's evaluation module imports pandas
    from loopml.registry._evaluate import METRICS

    return METRICS


def _describe(tok: _Tok) -> str:
    return "the end of the rule" if tok.kind == "end" else repr(tok.text)


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    return f"; did you mean {' or '.join(close)}?" if close else f" (known: {', '.join(known)})"


def _number_text(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _canonical(
    metric: str, op: Op, threshold: float | None, low: float | None, high: float | None, windows: int
) -> str:
    if op == "outside":
        assert low is not None and high is not None
        condition = f"outside {_number_text(low)}..{_number_text(high)}"
    else:
        assert threshold is not None
        condition = f"{op} {_number_text(threshold)}"
    metric_text = metric
    if "(" in metric and not metric.startswith("check."):
        function, column = metric[:-1].split("(", 1)
        if not _NAME.fullmatch(column):
            quote = next((q for q in "`'\"" if q not in column), "`")
            metric_text = f"{function}({quote}{column}{quote})"
    suffix = "" if windows == 1 else f" for {windows} windows"
    return f"{metric_text} {condition}{suffix}"
