"""Windows over the prediction log: which rows a monitor looks at together, and reading them cheaply.

A window is a half-open time range ``[start_ms, end_ms)`` of logged rows. Two kinds:

- **by time** (``"1h"``, ``"6h"``, ``"1d"``): aligned to the UTC epoch, so a day window runs from midnight to
  midnight UTC. Segments never cross an hour boundary, so a segment lies inside one time window or outside
  it, and a window's profile is the merge of its segments' profiles: no row is read for drift.
- **by count** (``"5000 rows"``): a window closes at the first millisecond by which it holds that many
  predictions (rows of the same millisecond stay together, so a window may hold a few more); the next one
  starts where it ended. Its boundaries do not line up with segments, so the segments it cuts are read.

A window is *complete* at ``now`` when it ended at least ``settle_ms`` ago (rows logged just before the end
may still be in a server's buffer). Inside a window, results are split by model version: an alias that
moves at noon gives two results for that day, one per version.

``WindowData`` reads one window: the merged profile of each version's predictions, and, when rows are
needed, only the columns asked for. ``batches`` streams them: one segment at a time, at most
``BATCH_ROWS`` rows at once, so a check's memory does not grow with the window's row count (what it adds
up is in ``_streaming``); ``meta`` and ``rows`` hold all of a window's rows at once, for what needs them
together (exact tests on rows, checks, slices). No segment's blob is kept once read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidArgumentError, LoopmlError
from loopml.monitoring import _streaming
from loopml.monitoring._segments import ANSWERED, HOUR_MS, is_profiled, text_column

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    from loopml.artifacts import ArtifactStore
    from loopml.data import Profile
    from loopml.store import PredictionSegment, Store

DAY_MS = 24 * HOUR_MS
OK_STATUS = ANSWERED  # the status of an answered prediction; any other status marks an error row
_TIME = re.compile(r"^\s*(\d+)\s*(h|d|hours?|days?)\s*$", re.IGNORECASE)
_COUNT = re.compile(r"^\s*(\d+)\s*(rows?)\s*$", re.IGNORECASE)
_NAMED = {"hour": "1h", "hourly": "1h", "day": "1d", "daily": "1d"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$", re.IGNORECASE)
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": HOUR_MS, "d": DAY_MS, "w": 7 * DAY_MS}
# the columns every request has, errors included: what counts, error rates and latencies are read from
# (numbers only: a million request ids as Python strings would cost more than the rest of a check)
META_COLUMNS = ("row", "timestamp_ms", "model_version", "latency_ms", "status")


@dataclass(frozen=True)
class WindowSpec:
    """How a monitor cuts the log: every ``size_ms`` (aligned to UTC) or every ``rows`` predictions."""

    text: str
    size_ms: int | None = None
    rows: int | None = None

    @property
    def by_count(self) -> bool:
        return self.rows is not None


def parse_window(window: str | int) -> WindowSpec:
    """``"1h"``, ``"6h"``, ``"1d"`` (also ``"hour"``, ``"day"``), or ``"5000 rows"`` / an int for a count."""
    if isinstance(window, int) and not isinstance(window, bool):
        window = f"{window} rows"
    if not isinstance(window, str):
        raise InvalidArgumentError(f"window is a text such as '1h', '1d' or '5000 rows', not {window!r}.")
    text = _NAMED.get(window.strip().lower(), window)
    match = _TIME.match(text)
    if match and int(match.group(1)) > 0:
        unit = match.group(2)[0].lower()
        n = int(match.group(1))
        return WindowSpec(f"{n}{unit}", size_ms=n * (HOUR_MS if unit == "h" else DAY_MS))
    match = _COUNT.match(text)
    if match and int(match.group(1)) > 0:
        return WindowSpec(f"{int(match.group(1))} rows", rows=int(match.group(1)))
    raise InvalidArgumentError(
        f"window {window!r} is not a window: use whole hours or days ('1h', '6h', '1d') or a number of "
        "predictions ('5000 rows'). Windows shorter than an hour are not possible: the log's segments are "
        "cut at hour boundaries."
    )


def parse_duration(text: str | float, what: str = "duration") -> int:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"7d"``, ``"1w"`` (or a number of seconds) as milliseconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise InvalidArgumentError(f"{what} cannot be negative, not {text}.")
        return int(text * 1000)
    match = _DURATION.match(str(text))
    if not match:
        raise InvalidArgumentError(f"{what} {text!r} is not a duration: use e.g. '90s', '15m', '2h', '7d'.")
    return int(float(match.group(1)) * _DURATION_MS[match.group(2).lower()])


@dataclass(frozen=True, order=True)
class Window:
    start_ms: int
    end_ms: int

    @property
    def hours(self) -> float:
        return (self.end_ms - self.start_ms) / HOUR_MS


def align(ts_ms: int, size_ms: int) -> int:
    """The start of the time window of ``size_ms`` holding ``ts_ms`` (UTC epoch aligned)."""
    return ts_ms - ts_ms % size_ms


def time_windows(
    spec: WindowSpec, first_ms: int, now_ms: int, *, settle_ms: int = 0, last_ms: int | None = None
) -> list[Window]:
    """The complete time windows from the one holding ``first_ms`` on: those that ended by ``now_ms -
    settle_ms`` (and that start before ``last_ms``, when given)."""
    if spec.size_ms is None:
        raise InvalidArgumentError(f"{spec.text} is a count window, not a time window.")
    size = spec.size_ms
    out = []
    start = align(first_ms, size)
    while start + size + settle_ms <= now_ms and (last_ms is None or start < last_ms):
        out.append(Window(start, start + size))
        start += size
    return out


def count_windows(
    rows: int, timestamps: np.ndarray[Any, Any], start_ms: int, now_ms: int, *, settle_ms: int = 0
) -> list[Window]:
    """The complete count windows of ``rows`` predictions each over the sorted ``timestamps`` (those at or
    after ``start_ms``), the first starting at ``start_ms``: each ends after the millisecond in which it
    reaches ``rows`` rows, and counts as complete once that end is ``settle_ms`` in the past."""
    import numpy as np

    ts = np.asarray(timestamps, dtype=np.int64)
    ts = ts[np.searchsorted(ts, start_ms, "left") :]
    out: list[Window] = []
    i, start = 0, start_ms
    while i + rows <= len(ts):
        last = int(ts[i + rows - 1])
        if last + 1 + settle_ms > now_ms:
            break
        out.append(Window(start, last + 1))
        start = last + 1
        i = int(np.searchsorted(ts, start, "left"))
    return out


# -- reading one window ---------------------------------------------------------------------------------


def _parquet_names(data: bytes) -> list[str]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    return list(pq.ParquetFile(pa.BufferReader(data)).schema_arrow.names)


def read_segment(data: bytes, columns: Iterable[str] | None = None) -> pa.Table:
    """A segment's table with only ``columns`` (those it has; the others are left out)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if columns is None:
        return pq.read_table(pa.BufferReader(data))
    names = set(_parquet_names(data))
    return pq.read_table(pa.BufferReader(data), columns=[c for c in dict.fromkeys(columns) if c in names])


def _filter(table: pa.Table, window: Window, route: str | None, version: int | None = None) -> pa.Table:
    import pyarrow.compute as pc

    ts = table["timestamp_ms"]
    mask = pc.and_(pc.greater_equal(ts, window.start_ms), pc.less(ts, window.end_ms))
    if route is not None and "route" in table.column_names:
        mask = pc.and_(mask, pc.equal(table["route"], route))
    if version is not None and "model_version" in table.column_names:
        mask = pc.and_(mask, pc.equal(table["model_version"], version))
    return table.filter(mask)


def _frame(tables: Sequence[pa.Table], columns: Sequence[str]) -> pd.DataFrame:
    """One DataFrame of ``tables`` with every one of ``columns`` (missing ones all null)."""
    import pandas as pd
    import pyarrow as pa

    tables = [t for t in tables if t.num_rows]
    frame: pd.DataFrame
    if not tables:
        frame = pd.DataFrame(
            {c: pd.Series(dtype="float64" if c == "latency_ms" else "object") for c in columns}
        )
    else:
        try:
            frame = pa.concat_tables(tables, promote_options="permissive").to_pandas()
        except (pa.ArrowException, TypeError, ValueError):  # a column changed type between segments
            frame = pa.concat_tables(_one_type(tables), promote_options="permissive").to_pandas()
    for c in columns:
        if c not in frame.columns:
            frame[c] = None
    if "status" in frame.columns:
        frame["status"] = frame["status"].fillna(OK_STATUS).astype("int64")
    return frame


def _one_type(tables: Sequence[pa.Table]) -> list[pa.Table]:
    """``tables`` with each column whose types cannot widen into one (numbers in one segment, text in the
    next) as text in all of them, as the log stores a column of mixed values: the window's profile and
    checks then see one text column, and drift says the column changed type."""
    import pyarrow as pa

    fields: dict[str, list[pa.Field]] = {}
    for table in tables:
        for f in table.schema:
            fields.setdefault(f.name, []).append(f)
    mixed = set()
    for name, found in fields.items():
        try:
            pa.unify_schemas([pa.schema([f]) for f in found], promote_options="permissive")
        except (pa.ArrowException, TypeError, ValueError):
            mixed.add(name)
    out = []
    for table in tables:
        for name in mixed & set(table.column_names):
            i = table.column_names.index(name)
            table = table.set_column(i, name, text_column(table[name].to_pylist()))
        out.append(table)
    return out


def _predictions_only(table: pa.Table) -> pa.Table:
    import pyarrow.compute as pc

    if "status" not in table.column_names:
        return table
    return table.filter(pc.fill_null(pc.equal(table["status"], OK_STATUS), True))


@dataclass
class VersionProfile:
    """The merged profile of one model version's predictions in a window (log column names)."""

    model_version: int
    rows: int
    errors: int
    profile: Profile | None
    requests: int = 0


@dataclass
class WindowData:
    """The rows of one window of a model's log (of one route), read lazily and at most once per segment.

    ``batches(columns)`` streams the window's rows, ``meta()`` holds every request's row (errors too) with
    ``META_COLUMNS``; ``rows(columns)`` the predictions with the columns asked for; ``profiles()`` the
    merged profile of each version. ``segments_read`` counts the segment blobs read, ``most_rows`` the most
    rows materialised at once by ``batches``.
    """

    store: Store
    artifacts: ArtifactStore
    model: str
    window: Window
    route: str | None = None
    segments: list[PredictionSegment] = field(default_factory=list)
    segments_read: int = 0
    most_rows: int = 0
    _meta: pd.DataFrame | None = field(default=None, repr=False)
    _rows: pd.DataFrame | None = field(default=None, repr=False)
    _profiles: dict[int, VersionProfile] | None = field(default=None, repr=False)

    @classmethod
    def open(
        cls,
        store: Store,
        artifacts: ArtifactStore,
        model: str,
        window: Window,
        route: str | None = None,
        segments: Sequence[PredictionSegment] | None = None,
    ) -> WindowData:
        """The window over ``segments`` (default: the model's segments that overlap it)."""
        if segments is None:
            segments = store.predictions.segments(model, window.start_ms, window.end_ms)
        inside = [
            s
            for s in segments
            if s.max_ts >= window.start_ms
            and s.min_ts < window.end_ms
            and (route is None or route in s.routes)
        ]
        return cls(store, artifacts, model, window, route, inside)

    def profiled(self) -> bool:
        """Whether every segment of the window lies wholly inside it and has its profile: then the profiles
        alone say what the window holds."""
        return all(self.inside(s) and s.profile_digest is not None for s in self.segments)

    def inside(self, segment: PredictionSegment) -> bool:
        """Whether every row of ``segment`` lies in the window."""
        return self.window.start_ms <= segment.min_ts and segment.max_ts < self.window.end_ms

    def _bytes(self, segment: PredictionSegment) -> bytes:
        self.segments_read += 1
        return self.artifacts.get_bytes(segment.digest)

    def batches(self, columns: Iterable[str], *, predictions: bool = False) -> Iterator[pd.DataFrame]:
        """The window's rows (``predictions``: answered ones only) with ``columns`` (a column a segment
        lacks is all null; ``status`` filled in), segment after segment in batches of at most
        ``BATCH_ROWS`` rows: one segment's blob and one batch are held at a time."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        wanted = list(dict.fromkeys(columns))
        read = list(dict.fromkeys([*wanted, "timestamp_ms", "route", "status"]))
        for segment in self.segments:
            data = self._bytes(segment)
            reader = pq.ParquetFile(pa.BufferReader(data))
            names = set(reader.schema_arrow.names)
            present = [c for c in read if c in names]
            for batch in reader.iter_batches(batch_size=_streaming.BATCH_ROWS, columns=present):
                table = _filter(pa.Table.from_batches([batch]), self.window, self.route)
                if predictions:
                    table = _predictions_only(table)
                if not table.num_rows:
                    continue
                table = table.select([c for c in wanted if c in table.column_names])
                self.most_rows = max(self.most_rows, table.num_rows)
                frame = _frame([table], wanted)
                del table, batch
                yield frame
                del frame
            del reader, data  # before the next segment's blob is read

    def _tables(self, columns: Iterable[str] | None, predictions: bool) -> list[pa.Table]:
        # the columns the filters read come along (and go again unless asked for)
        wanted = None if columns is None else list(columns)
        read = None if wanted is None else [*wanted, "timestamp_ms", "route", "status"]
        tables = []
        for segment in self.segments:
            table = _filter(read_segment(self._bytes(segment), read), self.window, self.route)
            table = _predictions_only(table) if predictions else table
            if wanted is not None:
                table = table.select([c for c in dict.fromkeys(wanted) if c in table.column_names])
            tables.append(table)
        return tables

    def meta(self) -> pd.DataFrame:
        """Every logged row of the window (errors included) with ``META_COLUMNS``, ``status`` filled in."""
        if self._meta is None:
            self._meta = _frame(self._tables(META_COLUMNS, predictions=False), META_COLUMNS)
        return self._meta

    def any_request(self, request_ids: Iterable[str]) -> bool:
        """Whether any of ``request_ids`` is the id of one of the window's answered requests (read batch by
        batch: a window's ids are never all held)."""
        wanted = set(request_ids)
        if not wanted:
            return False
        return any(
            frame["request_id"].isin(wanted).any() for frame in self.batches(["request_id"], predictions=True)
        )

    def rows(self, columns: Iterable[str]) -> pd.DataFrame:
        """The window's predictions (error rows left out) with ``columns`` (log names; a column no segment
        has is all null; ``request_id`` when asked for), ``row``, ``timestamp_ms`` and ``model_version``;
        read once, then read again only for columns not read yet."""
        wanted = list(dict.fromkeys(["row", "timestamp_ms", "model_version", *columns]))
        have = self._rows
        if have is not None and all(c in have.columns for c in wanted):
            return have
        names = wanted if have is None else list(dict.fromkeys([*have.columns, *wanted]))
        self._rows = _frame(self._tables(names, predictions=True), names)
        return self._rows

    def profiles(self) -> dict[int, VersionProfile]:
        """The merged profile of each version's predictions (log names: ``input.*``, ``output*``,
        ``proba.*``, ``latency_ms``): segment profiles for the segments wholly inside the window, the rows of
        the others (cut by the window, or written before segments had profiles) profiled here. Profiles
        whose columns' types cannot merge are replaced by a profile of all the window's rows."""
        if self._profiles is not None:
            return self._profiles
        try:
            self._profiles = self._merged()
        except LoopmlError:  # a column changed type between segments: profile the rows together
            self._profiles = self._from_rows(self.segments)
        return self._profiles

    def _merged(self) -> dict[int, VersionProfile]:
        out: dict[int, VersionProfile] = {}
        cut: list[PredictionSegment] = []
        for segment in self.segments:
            if not self.inside(segment) or segment.profile_digest is None:
                cut.append(segment)
                continue
            from loopml.monitoring import segment_profiles

            for part in segment_profiles(self.artifacts, segment):
                if self.route is not None and part.route != self.route:
                    continue
                _add(out, part.model_version, part.rows, part.errors, part.profile, part.requests)
        for version, extra in self._from_rows(cut).items():
            _add(out, version, extra.rows, extra.errors, extra.profile, extra.requests)
        return out

    def _from_rows(self, segments: Sequence[PredictionSegment]) -> dict[int, VersionProfile]:
        out: dict[int, VersionProfile] = {}
        tables = []
        for segment in segments:
            tables.append(_filter(read_segment(self._bytes(segment)), self.window, self.route))
        if not any(t.num_rows for t in tables):
            return out
        frame = _frame(tables, ["status"])
        profiled = [c for c in frame.columns if is_profiled(c)]
        version: Any
        for version, part in frame.groupby("model_version", sort=True):
            ok = part[part["status"] == OK_STATUS]
            profile = profile_rows(ok[profiled].reset_index(drop=True)) if len(ok) else None
            requests = int(ok["request_id"].nunique()) if "request_id" in ok.columns else 0
            _add(out, int(version), len(ok), len(part) - len(ok), profile, requests)
        return out


def profile_rows(frame: pd.DataFrame) -> Profile:
    """The profile of rows at hand, with the quantile sketches segment profiles have (merged sketches keep
    the smaller size, so the reference and every window use the same)."""
    from loopml.data import profile_frame
    from loopml.monitoring._profiles import MONITOR_KLL_K

    return profile_frame(frame, kll_k=MONITOR_KLL_K)


def _add(
    out: dict[int, VersionProfile],
    version: int,
    rows: int,
    errors: int,
    profile: Profile | None,
    requests: int,
) -> None:
    have = out.get(version)
    if have is None:
        out[version] = VersionProfile(version, rows, errors, profile, requests)
        return
    have.rows += rows
    have.errors += errors
    have.requests += requests
    if profile is not None:
        have.profile = profile if have.profile is None else have.profile.merge(profile)


def log_timestamps(
    store: Store,
    artifacts: ArtifactStore,
    model: str,
    *,
    since_ms: int,
    until_ms: int | None = None,
    route: str | None = None,
) -> np.ndarray[Any, Any]:
    """The sorted timestamps of the predictions (not errors) of ``model`` from ``since_ms`` on: what count
    windows are cut from. Reads two or three columns of each segment."""
    import numpy as np

    window = Window(since_ms, until_ms if until_ms is not None else 2**62)
    parts = []
    for segment in store.predictions.segments(model, since_ms, until_ms):
        if route is not None and route not in segment.routes:
            continue
        table = _filter(
            read_segment(artifacts.get_bytes(segment.digest), ("timestamp_ms", "route", "status")),
            window,
            route,
        )
        parts.append(_predictions_only(table)["timestamp_ms"].to_numpy())
    if not parts:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(parts).astype(np.int64, copy=False), kind="stable")


__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "META_COLUMNS",
    "OK_STATUS",
    "VersionProfile",
    "Window",
    "WindowData",
    "WindowSpec",
    "align",
    "count_windows",
    "log_timestamps",
    "parse_duration",
    "parse_window",
    "profile_rows",
    "read_segment",
    "time_windows",
]
