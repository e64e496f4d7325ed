"""The run search filter language, parsed into a small tree that a Store compiles to its own queries.

    metrics.f1 > 0.8 and params.model = 'rf' and tags.team = 'vision'
    (params.model in ('rf', 'gbm') or metrics.loss < 0.1) and status = 'FINISHED'
    tags.reviewed is null        name like 'baseline-%'        start_time >= '2026-01-01'

Entities are ``metrics``, ``params``, ``tags`` and ``attributes`` (a bare name means an attribute). Keys with
spaces or odd characters go in backquotes: ``metrics.`val loss```. Every error points at the bad token.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from loopml.errors import FilterError

ENTITIES = {
    "metrics": "metrics",
    "metric": "metrics",
    "params": "params",
    "param": "params",
    "tags": "tags",
    "tag": "tags",
    "attributes": "attributes",
    "attribute": "attributes",
    "attr": "attributes",
    "run": "attributes",
}
STRING_ATTRIBUTES = (
    "id",
    "name",
    "status",
    "parent_id",
    "user",
    "git_commit",
    "entry_point",
    "experiment_id",
)
TIME_ATTRIBUTES = ("start_time", "end_time")
ATTRIBUTES = STRING_ATTRIBUTES + TIME_ATTRIBUTES
NUMERIC_OPS = ("=", "!=", "<", "<=", ">", ">=")
STRING_OPS = ("=", "!=", "like", "ilike", "not like", "not ilike", "in", "not in")

Value = str | float


@dataclass(frozen=True)
class Comparison:
    entity: str  # metrics | params | tags | attributes
    key: str
    op: str  # one of NUMERIC_OPS, STRING_OPS, "is null", "is not null"
    value: Value | tuple[Value, ...] | None
    position: int


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Expr, ...]


Expr = Comparison | BoolOp


@dataclass(frozen=True)
class OrderBy:
    entity: str
    key: str
    descending: bool


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.)*")
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),])
  | (?P<ident>(?:[A-Za-z_][\w]*\.)?(?:`[^`]+`|[A-Za-z_][\w\-/:.]*))
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FilterError(f"Unexpected character {text[pos]!r} in filter", text, pos)
        kind = m.lastgroup or ""
        if kind != "ws":
            tokens.append(_Tok(kind, m.group(), pos))
        pos = m.end()
    tokens.append(_Tok("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0

    def peek(self, offset: int = 0) -> _Tok:
        return self.toks[min(self.i + offset, len(self.toks) - 1)]

    def next(self) -> _Tok:
        tok = self.peek()
        self.i += 1
        return tok

    def word(self, offset: int = 0) -> str:
        tok = self.peek(offset)
        return tok.text.lower() if tok.kind == "ident" else ""

    def error(self, message: str, tok: _Tok) -> FilterError:
        return FilterError(message, self.text, tok.pos)

    def parse(self) -> Expr:
        expr = self.or_expr()
        tok = self.peek()
        if tok.kind != "end":
            raise self.error(f"Expected 'and', 'or' or the end of the filter, found {tok.text!r}", tok)
        return expr

    def or_expr(self) -> Expr:
        items = [self.and_expr()]
        while self.word() == "or":
            self.next()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Expr:
        items = [self.atom()]
        while self.word() == "and":
            self.next()
            items.append(self.atom())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def atom(self) -> Expr:
        tok = self.peek()
        if tok.text == "(":
            self.next()
            expr = self.or_expr()
            close = self.next()
            if close.text != ")":
                raise self.error(f"Expected ')' to close the '(' at column {tok.pos + 1}", close)
            return expr
        return self.comparison()

    def comparison(self) -> Comparison:
        tok = self.next()
        if tok.kind != "ident" or tok.text.lower() in ("and", "or", "not", "in", "is", "like", "ilike"):
            what = "the end of the filter" if tok.kind == "end" else repr(tok.text)
            raise self.error(f"Expected a name such as metrics.f1 or params.model, found {what}", tok)
        entity, key = _split_name(tok, self)
        op_tok = self.peek()
        op = self.operator()
        value: Value | tuple[Value, ...] | None = None
        if op in ("in", "not in"):
            value = self.value_list()
        elif op not in ("is null", "is not null"):
            value_tok = self.peek()
            value = self.value()
        _check_op(entity, key, op, value, op_tok, self)
        if isinstance(value, str | float):
            value = _check_value(entity, key, op, value, value_tok, self)
        return Comparison(entity, key, op, value, tok.pos)

    def operator(self) -> str:
        tok = self.next()
        if tok.kind == "op":
            return {"==": "=", "<>": "!="}.get(tok.text, tok.text)
        word = tok.text.lower() if tok.kind == "ident" else ""
        if word in ("like", "ilike", "in"):
            return word
        if word == "not" and self.word() in ("like", "ilike", "in"):
            return "not " + self.next().text.lower()
        if word == "is":
            if self.word() == "not":
                self.next()
                negated = True
            else:
                negated = False
            null = self.next()
            if null.text.lower() != "null":
                raise self.error("Expected 'null' after 'is'", null)
            return "is not null" if negated else "is null"
        what = "the end of the filter" if tok.kind == "end" else repr(tok.text)
        raise self.error(f"Expected a comparison (=, !=, <, <=, >, >=, like, in, is null), found {what}", tok)

    def value(self) -> Value:
        tok = self.next()
        if tok.kind == "number":
            return float(tok.text)
        if tok.kind == "string":
            quote = tok.text[0]
            body = tok.text[1:-1].replace(quote * 2, quote)
            return re.sub(r"\\(.)", r"\1", body)
        what = "the end of the filter" if tok.kind == "end" else repr(tok.text)
        hint = " (put strings in quotes: 'rf')" if tok.kind == "ident" else ""
        raise self.error(f"Expected a number or a quoted string, found {what}{hint}", tok)

    def value_list(self) -> tuple[Value, ...]:
        open_tok = self.next()
        if open_tok.text != "(":
            raise self.error("Expected '(' to start a list of values", open_tok)
        values = [self.value()]
        while self.peek().text == ",":
            self.next()
            values.append(self.value())
        close = self.next()
        if close.text != ")":
            raise self.error("Expected ',' or ')' in the list of values", close)
        return tuple(values)


def _split_name(tok: _Tok, parser: _Parser) -> tuple[str, str]:
    text = tok.text
    prefix, dot, rest = text.partition(".")
    if dot and prefix.lower() in ENTITIES:
        entity, key = ENTITIES[prefix.lower()], rest
    elif dot and not prefix.startswith("`"):
        raise parser.error(f"Unknown entity {prefix!r}: use metrics., params., tags. or attributes.", tok)
    else:
        entity, key = "attributes", text
    if key.startswith("`"):
        key = key[1:-1]
    if entity == "attributes":
        key = key.lower()
        if key not in ATTRIBUTES:
            raise parser.error(f"Unknown run attribute {key!r}; known: {', '.join(ATTRIBUTES)}", tok)
    if not key:
        raise parser.error("Empty key", tok)
    return entity, key


def _check_op(entity: str, key: str, op: str, value: object, tok: _Tok, parser: _Parser) -> None:
    if op in ("is null", "is not null"):
        return
    if entity == "metrics" or (entity == "attributes" and key in TIME_ATTRIBUTES):
        if op not in NUMERIC_OPS:
            raise parser.error(f"{entity}.{key} is a number: use =, !=, <, <=, >, >=", tok)
    elif entity == "tags" or entity == "attributes":
        if op not in STRING_OPS:
            raise parser.error(f"{entity}.{key} is text: use =, !=, like, ilike or in", tok)
    elif op in ("<", "<=", ">", ">=") and not isinstance(value, float):
        raise parser.error(f"params.{key} {op} needs a number to compare with", tok)


def _check_value(entity: str, key: str, op: str, value: Value, tok: _Tok, parser: _Parser) -> Value:
    """The value as the store compares it; times given as ISO dates become milliseconds."""
    if entity == "metrics" and not isinstance(value, float):
        raise parser.error(f"metrics.{key} is compared with a number, not {tok.text}", tok)
    if op in ("like", "ilike", "not like", "not ilike") and not isinstance(value, str):
        raise parser.error(f"'{op}' needs a quoted pattern such as 'rf-%'", tok)
    if entity == "attributes" and key in TIME_ATTRIBUTES and isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise parser.error(f"{key} needs milliseconds since the epoch or an ISO date", tok) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return float(parsed.timestamp() * 1000)
    return value


def parse_filter(text: str | None) -> Expr | None:
    """Parse a filter; ``None`` or blank means every run."""
    if text is None or not text.strip():
        return None
    return _Parser(text).parse()


def parse_order_by(items: Sequence[str] | str | None) -> list[OrderBy]:
    """Parse ``["metrics.f1 desc", "start_time"]``; the default direction is ascending."""
    if items is None:
        return []
    if isinstance(items, str):
        items = [items]
    result = []
    for item in items:
        parts = item.strip().rsplit(None, 1)
        direction = "asc"
        if len(parts) == 2 and parts[1].lower() in ("asc", "desc"):
            name, direction = parts[0], parts[1].lower()
        else:
            name = item.strip()
        parser = _Parser(name)
        tok = parser.next()
        if tok.kind != "ident" or parser.peek().kind != "end":
            raise FilterError("Expected a name such as metrics.f1, then asc or desc", item, tok.pos)
        entity, key = _split_name(tok, parser)
        result.append(OrderBy(entity, key, direction == "desc"))
    return result
