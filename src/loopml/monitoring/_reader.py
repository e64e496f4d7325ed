"""Reading the prediction log back: rows of a window, labels by request id, and both joined.

Also ``compact_segments``, which merges a model's small segments (a quiet model flushed every second leaves
many) into fewer large ones, within an hour, and their profiles with them; readers see the same rows and
the same statistics before and after.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from loopml._version import __version__
from loopml.errors import InvalidArgumentError
from loopml.monitoring._segments import (
    ANSWERED,
    BASE_COLUMNS,
    INPUT_PREFIX,
    from_parquet,
    hour_of,
    to_parquet,
)

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from loopml.artifacts import ArtifactStore
    from loopml.store import PredictionSegment, Store

LABEL_COLUMNS = ("request_id", "label", "label_ms")


def _ordered(columns: Iterable[str]) -> list[str]:
    names = [c for c in columns if c not in BASE_COLUMNS]
    inputs = [c for c in names if c.startswith(INPUT_PREFIX)]
    return [*BASE_COLUMNS, *inputs, *(c for c in names if not c.startswith(INPUT_PREFIX))]


def _with_status(table: pa.Table) -> pa.Table:
    """``table`` with a ``status`` column: a segment written before error rows existed holds answers only."""
    if "status" in table.column_names:
        return table
    import pyarrow as pa

    return table.append_column("status", pa.array([ANSWERED] * table.num_rows, pa.int32()))


def _concat(tables: Sequence[pa.Table]) -> pa.Table | None:
    """One table of ``tables`` (columns unioned, types widened); None when their types cannot be merged."""
    import pyarrow as pa

    try:
        table = pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowException, TypeError, ValueError):
        return None
    return table.select(_ordered(table.column_names))


def read_predictions(
    store: Store,
    artifacts: ArtifactStore,
    model: str,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    version: int | None = None,
    route: str | None = None,
    errors: bool = False,
) -> pd.DataFrame:
    """The logged predictions of ``model`` timed in [since_ms, until_ms) (of a version, a route), oldest
    first; with ``errors=True`` the failed requests too (one row each: its ``status`` and latency, no inputs
    or outputs). Every row has a ``status``: 200 for a prediction."""
    import pandas as pd
    import pyarrow.compute as pc

    tables: list[pa.Table] = []
    for segment in store.predictions.segments(model, since_ms, until_ms):
        if (
            (version is not None and version not in segment.versions)
            or (route is not None and route not in segment.routes)
            or (not errors and segment.error_rows == segment.num_rows)
        ):
            continue
        table = _with_status(from_parquet(artifacts.get_bytes(segment.digest)))
        mask = None
        for cond in (
            None if since_ms is None else pc.greater_equal(table["timestamp_ms"], since_ms),
            None if until_ms is None else pc.less(table["timestamp_ms"], until_ms),
            None if version is None else pc.equal(table["model_version"], version),
            None if route is None else pc.equal(table["route"], route),
            None if errors or not segment.error_rows else pc.equal(table["status"], ANSWERED),
        ):
            if cond is not None:
                mask = cond if mask is None else pc.and_(mask, cond)
        tables.append(table if mask is None else table.filter(mask))
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype=_empty_dtype(c)) for c in BASE_COLUMNS})
    merged = _concat(tables)
    if merged is None:  # a column changed type between segments: let pandas hold both as objects
        frame = pd.concat([t.to_pandas() for t in tables], ignore_index=True)
        frame = frame[_ordered(frame.columns)]
    else:
        frame = merged.to_pandas()
    ordered: pd.DataFrame = frame.sort_values("timestamp_ms", kind="stable", ignore_index=True)
    return ordered


def _empty_dtype(column: str) -> str:
    dtypes = {
        "row": "int32",
        "timestamp_ms": "int64",
        "model_version": "int64",
        "latency_ms": "float64",
        "status": "int32",
    }
    return dtypes.get(column, "object")


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return value


def log_labels(
    store: Store,
    model: str,
    labels: Mapping[str, Any] | Sequence[tuple[str, Any]],
    *,
    at_ms: int | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Record ground truth by request id; ids not logged yet are accepted (a label may come first). A newer
    label of a request replaces the older one. ``at_ms``: when the labels arrived (default: ``clock()``,
    seconds since the epoch). Returns how many labels were recorded."""
    pairs = labels.items() if isinstance(labels, Mapping) else labels
    rows = [(str(rid), _plain(value)) for rid, value in pairs]
    when = int(clock() * 1000) if at_ms is None else int(at_ms)
    return store.predictions.add_labels(model, rows, at_ms=when)


def read_labels(
    store: Store,
    model: str,
    request_ids: Iterable[str] | None = None,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> pd.DataFrame:
    """The labels of ``model`` (of ``request_ids``; received in [since_ms, until_ms)): request_id, label,
    label_ms."""
    import pandas as pd

    found = store.predictions.labels(model, request_ids, since_ms=since_ms, until_ms=until_ms)
    return pd.DataFrame(
        {
            "request_id": pd.Series([lb.request_id for lb in found], dtype="object"),
            "label": pd.Series([lb.label for lb in found], dtype="object" if not found else None),
            "label_ms": pd.Series([lb.at_ms for lb in found], dtype="int64"),
        }
    )


def join_labels(predictions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """``predictions`` with the label of each row's request (``label``, ``label_ms``; missing when none came
    yet). A label belongs to a request: every row of a batch request gets it."""
    wanted = labels.loc[:, list(LABEL_COLUMNS)].drop_duplicates("request_id", keep="last")
    return predictions.merge(wanted, on="request_id", how="left", validate="many_to_one")


def compact_segments(
    store: Store,
    artifacts: ArtifactStore,
    model: str,
    *,
    target_rows: int = 100_000,
    until_ms: int | None = None,
    clock: Callable[[], float] = time.time,
) -> int:
    """Merge runs of consecutive segments of ``model`` smaller than ``target_rows`` (whose rows are all
    older than ``until_ms``) into segments of up to ``target_rows`` rows, never across an hour (UTC): a
    window of hours reads whole segments. Their profiles are merged too, not rebuilt from the rows. Returns
    how many segments went away; their blobs are left for ``loopml gc``. ``clock`` (seconds since the epoch)
    dates the new segments."""
    from loopml.monitoring._profiles import encode, merge_segment_profiles, profile_segment, segment_profiles
    from loopml.store import PredictionSegment

    segments = [
        s
        for s in store.predictions.segments(model)
        if s.num_rows < target_rows
        and (until_ms is None or s.max_ts < until_ms)
        and hour_of(s.min_ts) == hour_of(s.max_ts)  # one written before segments kept to an hour stays
    ]
    groups: list[list[PredictionSegment]] = [[]]
    for s in segments:
        group = groups[-1]
        if group and (
            sum(g.num_rows for g in group) + s.num_rows > target_rows
            or hour_of(group[0].min_ts) != hour_of(s.min_ts)
        ):
            groups.append([])
        groups[-1].append(s)
    removed = 0
    for group in groups:
        if len(group) < 2:
            continue
        tables = [_with_status(from_parquet(artifacts.get_bytes(s.digest))) for s in group]
        merged = _concat(tables)
        if merged is None:
            continue  # a column changed type within the group: leave those segments as they are
        try:
            profiles = merge_segment_profiles(
                segment_profiles(artifacts, s) if s.profile_digest is not None else profile_segment(table)
                for s, table in zip(group, tables, strict=True)
            )
        except InvalidArgumentError:
            continue  # a column's type cannot widen across them: the same
        profile_blob = artifacts.put_bytes(encode(model, profiles))
        data = to_parquet(merged, {"loopml.version": __version__, "loopml.model": model})
        blob = artifacts.put_bytes(data)
        new = PredictionSegment(
            id=uuid.uuid4().hex,
            model=model,
            digest=blob.digest,
            num_rows=sum(s.num_rows for s in group),
            min_ts=min(s.min_ts for s in group),
            max_ts=max(s.max_ts for s in group),
            versions=tuple(sorted({v for s in group for v in s.versions})),
            routes=tuple(sorted({r for s in group for r in s.routes})),
            created_ms=int(clock() * 1000),
            profile_digest=profile_blob.digest,
            error_rows=sum(s.error_rows for s in group),
        )
        store.predictions.replace_segments(model, [s.id for s in group], [new])
        removed += len(group) - 1
    return removed
