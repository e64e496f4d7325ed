"""``lm.data.diff``: how two dataset versions differ, from their stored profiles (no data is read).

Each column both versions share gets a shift score from 0 (same) to 1: the Kolmogorov-Smirnov distance of a
numeric column's distributions (from the quantile sketches), the total variation distance of a text or
boolean column's value frequencies, or the change of the null fraction when that is larger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loopml.data._api import get, profile
from loopml.data._profile import ColumnProfile
from loopml.data._refs import DatasetRef
from loopml.data._schema import schema_changes
from loopml.store import DatasetVersion
from loopml.tracking import TrackingClient, get_client


@dataclass(frozen=True)
class ColumnShift:
    """How far one column moved between two versions."""

    name: str
    kind: str
    score: float  # 0: the same distribution, 1: nothing in common
    measure: str  # "ks", "tvd", "nulls" (the null fraction moved more than the values did)
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetDiff:
    before: str
    after: str
    rows: tuple[int, int]
    schema_changes: list[str]
    columns: list[ColumnShift]  # shared columns, the most moved first

    def to_dict(self) -> dict[str, Any]:
        return {
            "before": self.before,
            "after": self.after,
            "rows": {"before": self.rows[0], "after": self.rows[1]},
            "schema_changes": self.schema_changes,
            "columns": [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "score": c.score,
                    "measure": c.measure,
                    "before": c.before,
                    "after": c.after,
                }
                for c in self.columns
            ],
        }

    def render(self, top: int = 10) -> str:
        lines = [f"{self.before} -> {self.after}: rows {self.rows[0]:,} -> {self.rows[1]:,}"]
        lines += [f"  {change}" for change in self.schema_changes] or ["  same columns and types"]
        for c in self.columns[:top]:
            lines.append(f"  {c.name}: {c.measure} {c.score:.3f}")
        return "\n".join(lines)


def diff(
    before: str | DatasetRef | DatasetVersion,
    after: str | DatasetRef | DatasetVersion,
    client: TrackingClient | None = None,
) -> DatasetDiff:
    """Schema changes, row counts, and the shared columns ranked by how far their distributions moved."""
    client = client or get_client()
    a = before if isinstance(before, DatasetVersion) else get(before, client)
    b = after if isinstance(after, DatasetVersion) else get(after, client)
    pa_, pb = profile(a, client), profile(b, client)
    shared = [c for c in pa_.columns if c.name in pb.names]
    shifts = sorted((shift(c, pb[c.name]) for c in shared), key=lambda s: (-s.score, s.name))
    return DatasetDiff(a.ref, b.ref, (a.num_rows, b.num_rows), schema_changes(a.schema, b.schema), shifts)


def shift(a: ColumnProfile, b: ColumnProfile) -> ColumnShift:
    """The shift score of one column between two profiles."""
    nulls = abs(a.null_fraction - b.null_fraction)
    if a.kind == b.kind == "numeric":
        score, measure = ks_distance(a, b), "ks"
    elif a.kind == b.kind == "categorical":
        score, measure = tv_distance(a, b), "tvd"
    else:
        score, measure = 0.0, "nulls"
    if nulls > score:
        score, measure = nulls, "nulls"
    return ColumnShift(a.name, a.kind, round(score, 6), measure, _brief(a), _brief(b))


def ks_distance(a: ColumnProfile, b: ColumnProfile) -> float:
    """The largest gap between the two cumulative distributions, on a grid of both columns' quantiles."""
    if not a.finite or not b.finite:
        return 0.0 if a.finite == b.finite else 1.0
    grid = sorted({*a.quantiles(_GRID).values(), *b.quantiles(_GRID).values(), a.min, a.max, b.min, b.max})
    return max(abs(x - y) for x, y in zip(a.cdf(grid), b.cdf(grid), strict=True))


def tv_distance(a: ColumnProfile, b: ColumnProfile) -> float:
    """Half the summed difference of value frequencies; values beyond the sketches' top ones count as one
    bucket, so for columns of many rare values this is a lower bound."""
    if not a.count or not b.count:
        return 0.0 if a.count == b.count else 1.0
    fa = {v: c / a.count for v, c in a.top(_TOP)}
    fb = {v: c / b.count for v, c in b.top(_TOP)}
    spread = sum(abs(fa.get(v, 0.0) - fb.get(v, 0.0)) for v in fa.keys() | fb.keys())
    rest = abs((1 - sum(fa.values())) - (1 - sum(fb.values())))
    return min(1.0, 0.5 * (spread + rest))


_GRID = tuple(i / 100 for i in range(1, 100))
_TOP = 1000


def _brief(c: ColumnProfile) -> dict[str, Any]:
    data: dict[str, Any] = {"count": c.count, "null_fraction": c.null_fraction, "distinct": c.distinct}
    if c.kind == "numeric":
        data.update(mean=c.mean, std=c.std, median=c.quantiles((0.5,)).get(0.5))
    if c.kind == "categorical" and c.count:
        data["top"] = {v: n / c.count for v, n in c.top(_TOP)}
    return data
