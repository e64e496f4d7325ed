"""Segment profiles, error rows, probabilities and hours in the prediction log, on a real Store (SQLite,
PostgreSQL) and a real local blob store: what a window's statistics are made of."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.artifacts import LocalArtifactStore
from loopml.data import Profile, profile_frame
from loopml.errors import InvalidArgumentError
from loopml.monitoring import (
    PredictionLogger,
    SegmentProfile,
    compact_segments,
    log_labels,
    merge_segment_profiles,
    read_labels,
    read_predictions,
    segment_profiles,
)
from loopml.monitoring._segments import HOUR_MS, to_parquet
from loopml.store import SqlStore
from loopml.store._maintenance import collect_garbage

HOUR = 472_222 * HOUR_MS  # 2023-11-14 22:00 UTC, on an hour boundary


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def _logger(store: SqlStore, artifacts: LocalArtifactStore, **kw: object) -> PredictionLogger:
    kw.setdefault("flush_interval", 60.0)  # the tests flush themselves
    return PredictionLogger(store, artifacts, model="churn", clock=lambda: HOUR / 1000, **kw)  # type: ignore[arg-type]


def _log(
    logger: PredictionLogger, rid: str, at_ms: int, rows: int = 1, version: int = 1, route: str = "champion"
) -> None:
    values = np.arange(rows, dtype=float) + at_ms % 7
    assert logger.log(
        request_id=rid,
        model_version=version,
        route=route,
        inputs=pd.DataFrame({"x": values, "gear": (np.arange(rows) % 3).astype(np.int64)}),
        outputs=np.where(values > 3, "yes", "no"),
        latency_ms=2.0 + at_ms % 5,
        timestamp_ms=at_ms,
    )


def _same_statistics(a: Profile, b: Profile) -> None:
    """Everything a profile states exactly is equal (the quantile sketch is randomised: not compared; text
    read back through pandas is a large_string where the segment has a string: kinds are compared)."""
    assert a.num_rows == b.num_rows and sorted(a.names) == sorted(b.names)
    for name in a.names:
        x, y = a[name], b[name]
        assert (x.kind, x.count, x.nulls, x.finite, x.min, x.max, x.categories, x.counts, x.distinct) == (
            y.kind,
            y.count,
            y.nulls,
            y.finite,
            y.min,
            y.max,
            y.categories,
            y.counts,
            y.distinct,
        ), name
        assert x.mean == (None if y.mean is None else pytest.approx(y.mean, rel=1e-12))
        assert x.std == (None if y.std is None else pytest.approx(y.std, rel=1e-9))
        assert (x.kll is None or x.kll.n) == (y.kll is None or y.kll.n)


class TestSegmentProfiles:
    def test_a_segment_has_a_profile_per_version_and_route_of_its_answered_rows(
        self, store: SqlStore, artifacts: LocalArtifactStore
    ) -> None:
        logger = _logger(store, artifacts)
        for i in range(6):
            _log(logger, f"c{i}", HOUR + i, rows=2)
        for i in range(3):
            _log(logger, f"k{i}", HOUR + 10 + i, version=2, route="canary")
        logger.log_error(request_id="bad", model_version=2, route="canary", status=422, latency_ms=0.5)
        logger.log_error(
            request_id="boom", model_version=1, route="champion", status=500, latency_ms=9, timestamp_ms=HOUR
        )
        logger.close()
        [segment] = store.predictions.segments("churn")
        assert (segment.num_rows, segment.error_rows) == (17, 2) and segment.profile_digest is not None
        champion, canary = segment_profiles(artifacts, segment)
        assert (
            champion.model_version,
            champion.route,
            champion.rows,
            champion.requests,
            champion.errors,
        ) == (
            1,
            "champion",
            12,
            6,
            1,
        )
        assert (canary.model_version, canary.route, canary.rows, canary.requests, canary.errors) == (
            2,
            "canary",
            3,
            3,
            1,
        )
        assert champion.profile.names == ["input.x", "input.gear", "output", "latency_ms"]
        rows = read_predictions(store, artifacts, "churn")  # answered rows only: no error row in a profile
        for group, part in (
            (champion, rows[rows.route == "champion"]),
            (canary, rows[rows.route == "canary"]),
        ):
            expected = profile_frame(part[["input.x", "input.gear", "output", "latency_ms"]])
            _same_statistics(group.profile, expected)
        assert champion.profile["input.gear"].counts == {0: 6, 1: 6}  # a low-cardinality number, counted
        assert champion.profile["latency_ms"].count == 12
        assert {segment.digest, segment.profile_digest} <= set(store.referenced_digests())

    def test_a_segment_of_errors_only_has_empty_profiles(
        self, store: SqlStore, artifacts: LocalArtifactStore
    ) -> None:
        logger = _logger(store, artifacts)
        logger.log_error(request_id="a", model_version=1, route="champion", status=503, latency_ms=1)
        logger.close()
        [segment] = store.predictions.segments("churn")
        [group] = segment_profiles(artifacts, segment)
        assert (group.rows, group.errors, group.requests, group.profile.num_rows) == (0, 1, 0, 0)
        assert group.profile.names == ["latency_ms"] and group.profile["latency_ms"].count == 0

    def test_a_segment_written_before_profiles_is_profiled_from_its_rows(
        self, store: SqlStore, artifacts: LocalArtifactStore
    ) -> None:
        """An old segment: no status column, no profile blob. Its rows read as answers (status 200) and
        its profiles are built when asked for."""
        import pyarrow as pa

        table = pa.table(
            {
                "request_id": ["a", "a", "b"],
                "row": pa.array([0, 1, 0], pa.int32()),
                "timestamp_ms": [HOUR, HOUR, HOUR + 5],
                "model": ["churn"] * 3,
                "model_version": [1, 1, 1],
                "route": ["champion"] * 3,
                "latency_ms": [1.0, 1.0, 2.0],
                "input.x": [0.5, 1.5, 2.5],
                "output": [0, 1, 1],
            }
        )
        blob = artifacts.put_bytes(to_parquet(table, {}))
        segment = store.predictions.add_segment(
            "churn",
            digest=blob.digest,
            num_rows=3,
            min_ts=HOUR,
            max_ts=HOUR + 5,
            versions=[1],
            routes=["champion"],
            created_ms=HOUR,
        )
        [group] = segment_profiles(artifacts, segment)
        assert (group.rows, group.requests, group.errors) == (3, 2, 0)
        assert group.profile["output"].counts == {0: 1, 1: 2}
        logged = read_predictions(store, artifacts, "churn", errors=True)
        assert logged["status"].tolist() == [200] * 3
        assert len(read_predictions(store, artifacts, "churn")) == 3

    def test_a_segment_the_profiler_fails_on_is_written_all_the_same(
        self, store: SqlStore, artifacts: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from loopml.monitoring import _profiles

        def broken(table: object) -> list[SegmentProfile]:
            raise ValueError("a column no profile can take")

        monkeypatch.setattr(_profiles, "profile_segment", broken)
        logger = _logger(store, artifacts)
        _log(logger, "r", HOUR, rows=3)
        logger.close()
        [segment] = store.predictions.segments("churn")
        assert logger.last_error is None and segment.num_rows == 3 and segment.profile_digest is None
        assert len(read_predictions(store, artifacts, "churn")) == 3  # no row lost for its profile

    def test_a_windows_profiles_merge_by_version_and_route(
        self, store: SqlStore, artifacts: LocalArtifactStore
    ) -> None:
        logger = _logger(store, artifacts)
        for i in range(4):
            _log(logger, f"a{i}", HOUR + i, rows=3)
            _log(logger, f"b{i}", HOUR + i, version=2, route="canary")
            logger.flush()
        logger.close()
        segments = store.predictions.segments("churn")
        assert len(segments) == 4
        champion, canary = merge_segment_profiles(segment_profiles(artifacts, s) for s in segments)
        assert (champion.rows, champion.requests, canary.rows) == (12, 4, 4)
        rows = read_predictions(store, artifacts, "churn", version=1)
        _same_statistics(
            champion.profile, profile_frame(rows[["input.x", "input.gear", "output", "latency_ms"]])
        )
        with pytest.raises(InvalidArgumentError, match="different groups"):
            champion.merge(canary)
        assert isinstance(champion, SegmentProfile)


class TestHours:
    def test_a_batch_is_split_at_hour_boundaries(
        self, store: SqlStore, artifacts: LocalArtifactStore
    ) -> None:
        logger = _logger(store, artifacts)
        times = [HOUR - 2, HOUR - 1, HOUR, HOUR + 1, HOUR + HOUR_MS + 3, HOUR - 3]  # the last one comes late
        for i, at in enumerate(times):
            _log(logger, f"r{i}", at)
        logger.close()
        segments = store.predictions.segments("churn")
        assert [(s.min_ts, s.max_ts, s.num_rows) for s in segments] == [
            (HOUR - 3, HOUR - 1, 3),
            (HOUR, HOUR + 1, 2),
            (HOUR + HOUR_MS + 3, HOUR + HOUR_MS + 3, 1),
        ]
        assert logger.written_segments == 3
        assert sorted(read_predictions(store, artifacts, "churn")["timestamp_ms"]) == sorted(times)

    def test_a_failed_segment_puts_the_records_it_did_not_write_back_in_order(
        self, store: SqlStore, artifacts: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        logger = _logger(store, artifacts)
        for i, at in enumerate([HOUR - 1, HOUR, HOUR - 2, HOUR + 1]):
            _log(logger, f"r{i}", at)
        add = store.predictions.add_segment
        calls = []

        def flaky(model: str, **fields: object) -> object:
            calls.append(fields["min_ts"])
            if len(calls) == 2:
                raise ConnectionError("the database went away")
            return add(model, **fields)  # type: ignore[arg-type]

        monkeypatch.setattr(store.predictions, "add_segment", flaky)
        with pytest.raises(ConnectionError):
            logger.flush()
        assert logger.buffered_rows == 2 and logger.written_rows == 2  # the first hour is written
        logger.close()
        assert [s.num_rows for s in store.predictions.segments("churn")] == [2, 2]
        logged = read_predictions(store, artifacts, "churn")
        assert logged["request_id"].tolist() == ["r2", "r0", "r1", "r3"]

    def test_compaction_stays_within_an_hour_and_merges_the_profiles(
        self, store: SqlStore, artifacts: LocalArtifactStore
    ) -> None:
        logger = _logger(store, artifacts)
        for i in range(6):  # three segments in one hour, three in the next
            at = HOUR + (i // 3) * HOUR_MS + i
            _log(logger, f"r{i}", at, rows=2, route="champion" if i % 2 else "canary")
            if i == 4:
                logger.log_error(
                    request_id="e",
                    model_version=1,
                    route="champion",
                    status=500,
                    latency_ms=3,
                    timestamp_ms=at,
                )
            logger.flush()
        logger.close()
        before = read_predictions(store, artifacts, "churn", errors=True)
        old = store.predictions.segments("churn")
        assert len(old) == 6
        unmerged = merge_segment_profiles(segment_profiles(artifacts, s) for s in old)

        assert (
            compact_segments(store, artifacts, "churn", target_rows=100, clock=lambda: 1_800_000_000.0) == 4
        )
        new = store.predictions.segments("churn")
        assert [(s.min_ts // HOUR_MS, s.max_ts // HOUR_MS) for s in new] == [
            (472_222, 472_222),
            (472_223, 472_223),
        ]
        assert [s.num_rows for s in new] == [6, 7] and [s.error_rows for s in new] == [0, 1]
        assert {s.created_ms for s in new} == {1_800_000_000_000}
        pd.testing.assert_frame_equal(read_predictions(store, artifacts, "churn", errors=True), before)

        for segment in new:  # the merged profiles are those of the union of the rows
            rows = read_predictions(
                store, artifacts, "churn", since_ms=segment.min_ts, until_ms=segment.max_ts + 1
            )
            for group in segment_profiles(artifacts, segment):
                part = rows[(rows.route == group.route) & (rows.model_version == group.model_version)]
                assert group.rows == len(part) and group.requests == part.request_id.nunique()
                _same_statistics(
                    group.profile, profile_frame(part[["input.x", "input.gear", "output", "latency_ms"]])
                )
        merged = merge_segment_profiles(segment_profiles(artifacts, s) for s in new)
        for a, b in zip(merged, unmerged, strict=True):
            assert (a.model_version, a.route, a.rows, a.errors, a.requests) == (
                b.model_version,
                b.route,
                b.rows,
                b.errors,
                b.requests,
            )
            _same_statistics(a.profile, b.profile)

    def test_gc_keeps_the_profiles_of_live_segments_and_collects_the_compacted(
        self, store: SqlStore, artifacts: LocalArtifactStore
    ) -> None:
        logger = _logger(store, artifacts)
        for i in range(3):
            _log(logger, f"r{i}", HOUR + i)
            logger.flush()
        logger.close()
        old = store.predictions.segments("churn")
        old_blobs = {d for s in old for d in (s.digest, s.profile_digest)}
        assert len(old_blobs) == 6 and None not in old_blobs
        report = collect_garbage(store, artifacts, grace_seconds=0)
        assert report.removed == 0 and all(artifacts.exists(d) for d in old_blobs if d)

        compact_segments(store, artifacts, "churn")
        [segment] = store.predictions.segments("churn")
        report = collect_garbage(store, artifacts, grace_seconds=0)
        assert report.removed == 6 and not any(artifacts.exists(d) for d in old_blobs if d)
        assert artifacts.exists(segment.digest) and segment.profile_digest is not None
        assert segment_profiles(artifacts, segment)[0].rows == 3  # read from the kept blob


class TestErrorRows:
    def test_error_rows_are_read_only_when_asked_for(
        self, store: SqlStore, artifacts: LocalArtifactStore
    ) -> None:
        logger = _logger(store, artifacts)
        _log(logger, "ok", HOUR, rows=2)
        assert logger.log_error(
            request_id="bad",
            model_version=1,
            route="champion",
            status=422,
            latency_ms=0.7,
            timestamp_ms=HOUR + 1,
        )
        logger.close()
        answered = read_predictions(store, artifacts, "churn")
        assert answered["request_id"].tolist() == ["ok", "ok"] and set(answered["status"]) == {200}
        everything = read_predictions(store, artifacts, "churn", errors=True)
        error = everything.set_index("request_id").loc["bad"]
        assert (error["status"], error["latency_ms"], error["row"], error["model_version"]) == (
            422,
            0.7,
            0,
            1,
        )
        assert pd.isna(error["input.x"]) and pd.isna(error["output"])  # no inputs, no outputs
        assert read_predictions(store, artifacts, "churn", errors=True, route="canary").empty

    def test_a_segment_of_errors_is_skipped_unless_asked_for(
        self, store: SqlStore, artifacts: LocalArtifactStore
    ) -> None:
        logger = _logger(store, artifacts)
        logger.log_error(request_id="a", model_version=1, route="champion", status=400, latency_ms=1)
        logger.close()
        assert read_predictions(store, artifacts, "churn").empty
        assert read_predictions(store, artifacts, "churn", errors=True)["status"].tolist() == [400]

    def test_log_error_takes_failures_only(self, store: SqlStore, artifacts: LocalArtifactStore) -> None:
        logger = _logger(store, artifacts)
        with pytest.raises(InvalidArgumentError, match="400 to 599"):
            logger.log_error(request_id="a", model_version=1, route="champion", status=200, latency_ms=1)
        logger.close()
        assert not logger.log_error(request_id="a", model_version=1, route="c", status=500, latency_ms=1)
        assert logger.dropped == 1


class TestProbabilities:
    def test_class_probabilities_are_logged_as_a_column_per_class(
        self, store: SqlStore, artifacts: LocalArtifactStore
    ) -> None:
        logger = _logger(store, artifacts)
        proba = np.array([[0.9, 0.1], [0.2, 0.8]])
        logger.log(
            request_id="r",
            model_version=1,
            route="champion",
            inputs=[{"x": 1}, {"x": 2}],
            outputs=np.array(["no", "yes"]),
            probabilities=proba,
            classes=["no", "yes"],
            latency_ms=1,
        )
        logger.log(
            request_id="s", model_version=1, route="champion", inputs=[{"x": 3}], outputs=["no"], latency_ms=1
        )
        logger.close()
        logged = read_predictions(store, artifacts, "churn")
        assert list(logged.columns)[-3:] == ["output", "proba.no", "proba.yes"]
        assert logged["proba.yes"].tolist()[:2] == [0.1, 0.8] and pd.isna(logged["proba.yes"].iloc[2])
        [segment] = store.predictions.segments("churn")
        [group] = segment_profiles(artifacts, segment)
        assert group.profile["proba.no"].count == 2 and group.profile["proba.no"].nulls == 1

    def test_probabilities_need_a_column_per_class_and_a_row_per_row(
        self, store: SqlStore, artifacts: LocalArtifactStore
    ) -> None:
        logger = _logger(store, artifacts)
        for proba, classes in (
            (np.ones((2, 2)), ["a"]),
            (np.ones((1, 2)), ["a", "b"]),
            ([0.5, 0.5], ["a", "b"]),
        ):
            with pytest.raises(InvalidArgumentError, match="one column per class"):
                logger.log(
                    request_id="r",
                    model_version=1,
                    route="champion",
                    inputs=[{"x": 1}, {"x": 2}],
                    outputs=[0, 1],
                    probabilities=proba,
                    classes=classes,
                    latency_ms=1,
                )
        logger.close()


class TestClocks:
    def test_labels_are_dated_by_the_clock_given(self, store: SqlStore) -> None:
        assert log_labels(store, "churn", {"r1": 1}, clock=lambda: 1_234.5) == 1
        assert read_labels(store, "churn")["label_ms"].tolist() == [1_234_500]
        log_labels(store, "churn", {"r1": 0}, at_ms=2_000_000, clock=lambda: 0.0)  # an explicit time wins
        assert read_labels(store, "churn")["label_ms"].tolist() == [2_000_000]
