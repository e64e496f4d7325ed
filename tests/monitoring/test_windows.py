"""Windows over the prediction log: parsing, UTC alignment, completeness at an injected now, count windows,
and reading one window's rows (only the columns asked for) from a real log."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.artifacts import LocalArtifactStore
from loopml.errors import InvalidArgumentError
from loopml.monitoring import PredictionLogger
from loopml.monitoring._windows import (
    DAY_MS,
    HOUR_MS,
    Window,
    WindowData,
    count_windows,
    log_timestamps,
    parse_duration,
    parse_window,
    time_windows,
)
from loopml.store import SqlStore

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class TestParsing:
    @pytest.mark.parametrize(
        ("text", "size"),
        [
            ("1h", HOUR_MS),
            ("6h", 6 * HOUR_MS),
            ("1d", DAY_MS),
            ("day", DAY_MS),
            ("hour", HOUR_MS),
            ("2 days", 2 * DAY_MS),
        ],
    )
    def test_time_windows(self, text: str, size: int) -> None:
        spec = parse_window(text)
        assert spec.size_ms == size and not spec.by_count

    @pytest.mark.parametrize("text", ["5000 rows", "5000rows", 5000, "1 row"])
    def test_count_windows(self, text: str | int) -> None:
        spec = parse_window(text)
        assert spec.by_count and spec.rows == (1 if text == "1 row" else 5000)

    @pytest.mark.parametrize("text", ["15m", "0h", "0 rows", "weekly", "", "1.5h"])
    def test_what_is_not_a_window_says_what_is(self, text: str) -> None:
        with pytest.raises(InvalidArgumentError, match="'1h', '6h', '1d'"):
            parse_window(text)

    def test_durations(self) -> None:
        assert parse_duration("90s") == 90_000
        assert parse_duration("7d") == 7 * DAY_MS
        assert parse_duration(60) == 60_000
        with pytest.raises(InvalidArgumentError, match="'2h'"):
            parse_duration("soon", "recompute")


class TestTimeWindows:
    def test_aligned_to_utc_and_complete_only_once_ended(self) -> None:
        spec = parse_window("1d")
        first = T0 + 5 * HOUR_MS + 123  # a row at 05:00 on day 0
        now = T0 + 3 * DAY_MS + 2 * HOUR_MS  # day 3 has begun: days 0, 1, 2 are complete
        windows = time_windows(spec, first, now)
        assert windows == [Window(T0 + i * DAY_MS, T0 + (i + 1) * DAY_MS) for i in range(3)]

    def test_settle_time_keeps_a_just_ended_window_open(self) -> None:
        spec = parse_window("1h")
        now = T0 + 2 * HOUR_MS + 30_000  # 30 s after the second hour ended
        assert len(time_windows(spec, T0, now)) == 2
        assert len(time_windows(spec, T0, now, settle_ms=60_000)) == 1

    def test_last_ms_stops_early(self) -> None:
        spec = parse_window("1h")
        assert len(time_windows(spec, T0, T0 + 10 * HOUR_MS, last_ms=T0 + 3 * HOUR_MS)) == 3


class TestCountWindows:
    def test_rows_of_one_millisecond_stay_together(self) -> None:
        ts = np.array([0, 1, 2, 2, 2, 3, 4, 5, 6, 7]) + T0
        windows = count_windows(3, ts, T0, T0 + 100)
        # 0,1,2 reach three rows at ms 2, which holds two more: the first window takes all five
        assert windows[0] == Window(T0, T0 + 3)
        assert windows[1] == Window(T0 + 3, T0 + 6)  # 3, 4, 5
        assert len(windows) == 2  # 6, 7 are not three rows yet

    def test_complete_only_once_settled(self) -> None:
        ts = np.arange(10) + T0
        assert count_windows(5, ts, T0, T0 + 10) == [Window(T0, T0 + 5), Window(T0 + 5, T0 + 10)]
        assert count_windows(5, ts, T0, T0 + 10, settle_ms=3) == [Window(T0, T0 + 5)]

    def test_starts_where_the_last_one_ended(self) -> None:
        ts = np.arange(10) + T0
        assert count_windows(5, ts, T0 + 5, T0 + 100) == [Window(T0 + 5, T0 + 10)]


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def _log(store: SqlStore, artifacts: LocalArtifactStore) -> None:
    """Hourly requests over two days: version 1 (champion, half past each hour) until noon of day 1, then
    version 2; version 3 is a canary (one second past each hour) throughout. Each request has two rows."""
    with PredictionLogger(
        store, artifacts, model="m", flush_interval=60.0, clock=lambda: T0 / 1000
    ) as logger:
        for hour in range(48):
            champion = 1 if hour < 36 else 2
            for route, version, ts in (
                ("champion", champion, T0 + hour * HOUR_MS + HOUR_MS // 2),
                ("canary", 3, T0 + hour * HOUR_MS + 1000),
            ):
                logger.log(
                    request_id=f"{route}-{hour}",
                    model_version=version,
                    route=route,
                    inputs=pd.DataFrame({"x": [float(hour), float(hour) + 0.5], "city": ["a", "b"]}),
                    outputs=np.array([hour % 2, 1]),
                    latency_ms=float(hour),
                    timestamp_ms=ts,
                )
            if hour % 6 == 5:
                logger.flush()  # the logger still cuts segments at every hour


def test_a_window_reads_its_rows_for_one_route(store: SqlStore, artifacts: LocalArtifactStore) -> None:
    _log(store, artifacts)
    day1 = Window(T0 + DAY_MS, T0 + 2 * DAY_MS)
    data = WindowData.open(store, artifacts, "m", day1, route="champion")
    assert all(data.inside(s) for s in data.segments) and len(data.segments) == 24

    meta = data.meta()
    assert len(meta) == 48 and data.any_request(["champion-30"]) and not data.any_request(["canary-30"])
    assert sorted(meta["model_version"].unique().tolist()) == [1, 2]
    assert (meta["status"] == 200).all()  # rows logged before statuses existed are answered predictions

    rows = data.rows(["input.x"])
    assert "input.city" not in rows.columns and len(rows) == 48
    assert rows["input.x"].min() == 24.0 and rows["input.x"].max() == 47.5
    rows = data.rows(["input.city", "input.missing"])
    assert {"input.x", "input.city", "input.missing"} <= set(rows.columns)
    assert rows["input.missing"].isna().all()


def test_a_window_streams_in_batches_of_bounded_rows(
    store: SqlStore, artifacts: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``batches`` gives the rows ``meta`` holds at once, never more than ``BATCH_ROWS`` of them at a time."""
    from loopml.monitoring import _streaming

    _log(store, artifacts)
    monkeypatch.setattr(_streaming, "BATCH_ROWS", 3)
    quarter = HOUR_MS // 4
    data = WindowData.open(
        store, artifacts, "m", Window(T0 + 3 * HOUR_MS + quarter, T0 + 9 * HOUR_MS + quarter)
    )
    batches = list(data.batches(["row", "timestamp_ms", "model_version", "status", "input.missing"]))
    assert data.most_rows == 3 and data.segments_read == len(data.segments) == 7
    streamed = pd.concat(batches, ignore_index=True)
    meta = data.meta()
    assert streamed["timestamp_ms"].tolist() == meta["timestamp_ms"].tolist() and len(streamed) == 24
    assert streamed["input.missing"].isna().all() and (streamed["status"] == 200).all()


def test_a_window_cutting_segments_reads_only_its_part(
    store: SqlStore, artifacts: LocalArtifactStore
) -> None:
    _log(store, artifacts)
    quarter = HOUR_MS // 4
    window = Window(T0 + 3 * HOUR_MS + quarter, T0 + 9 * HOUR_MS + quarter)  # cuts hours 3 and 9
    data = WindowData.open(store, artifacts, "m", window)
    assert len(data.segments) == 7 and [data.inside(s) for s in data.segments] == [False, *[True] * 5, False]
    meta = data.meta()
    assert len(meta) == 2 + 5 * 4 + 2 and not data.profiled()
    profiles = data.profiles()
    assert sorted(profiles) == [1, 3]
    assert profiles[1].rows == 12 and profiles[3].rows == 12 and profiles[1].requests == 6
    assert profiles[1].profile is not None and profiles[1].profile["input.x"].count == 12


def test_a_window_of_whole_segments_is_read_from_their_profiles(
    store: SqlStore, artifacts: LocalArtifactStore
) -> None:
    _log(store, artifacts)
    data = WindowData.open(store, artifacts, "m", Window(T0, T0 + DAY_MS), route="canary")
    assert data.profiled()
    profiles = data.profiles()
    assert list(profiles) == [3] and profiles[3].rows == 48 and profiles[3].requests == 24
    profile = profiles[3].profile
    assert profile is not None and profile["input.x"].count == 48 and profile["input.x"].max == 23.5
    assert data.segments_read == 0  # no segment was read


def test_an_empty_window_reads_as_empty_frames(store: SqlStore, artifacts: LocalArtifactStore) -> None:
    _log(store, artifacts)
    data = WindowData.open(store, artifacts, "m", Window(T0 + 5 * DAY_MS, T0 + 6 * DAY_MS))
    assert data.segments == [] and data.meta().empty and data.rows(["input.x"]).empty
    assert "input.x" in data.rows(["input.x"]).columns


def test_count_windows_from_the_log(store: SqlStore, artifacts: LocalArtifactStore) -> None:
    _log(store, artifacts)
    ts = log_timestamps(store, artifacts, "m", since_ms=T0, route="canary")
    assert len(ts) == 96 and (np.diff(ts) >= 0).all()
    windows = count_windows(30, ts, int(ts[0]), T0 + 3 * DAY_MS)
    assert len(windows) == 3 and windows[0].start_ms == int(ts[0])
    data = WindowData.open(store, artifacts, "m", windows[1], route="canary")
    assert len(data.meta()) == 30
