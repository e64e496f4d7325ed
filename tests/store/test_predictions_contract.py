"""Store contract for the prediction log index: segments by time, labels by request id (SQLite, Postgres)."""

from __future__ import annotations

import pytest

from loopml.errors import ConflictError, InvalidArgumentError
from loopml.store import PredictionSegment, SqlStore


def _add(store: SqlStore, digest: str, min_ts: int, max_ts: int, model: str = "m") -> PredictionSegment:
    return store.predictions.add_segment(
        model,
        digest=digest * 64,
        num_rows=3,
        min_ts=min_ts,
        max_ts=max_ts,
        versions=[2, 1, 2],
        routes=["champion", "canary"],
        created_ms=max_ts + 1,
    )


def test_segments_are_indexed_by_model_and_time(store: SqlStore) -> None:
    a = _add(store, "a", 100, 199)
    b = _add(store, "b", 200, 299)
    _add(store, "c", 100, 150, model="other")
    assert (a.num_rows, a.versions, a.routes) == (3, (1, 2), ("canary", "champion"))
    assert [s.id for s in store.predictions.segments("m")] == [a.id, b.id]
    assert [s.id for s in store.predictions.segments("m", since_ms=199)] == [a.id, b.id]  # overlaps
    assert [s.id for s in store.predictions.segments("m", since_ms=200)] == [b.id]
    assert [s.id for s in store.predictions.segments("m", until_ms=200)] == [a.id]  # until is exclusive
    assert store.predictions.segments("nobody") == []
    assert store.predictions.models() == ["m", "other"]
    assert {"a" * 64, "b" * 64, "c" * 64} <= set(store.referenced_digests())


def test_the_same_segment_recorded_twice_is_one_segment(store: SqlStore) -> None:
    first = _add(store, "a", 100, 199)
    again = _add(store, "a", 100, 199)
    assert again == first
    assert len(store.predictions.segments("m")) == 1


def test_a_bad_segment_is_refused(store: SqlStore) -> None:
    with pytest.raises(InvalidArgumentError, match="min_ts <= max_ts"):
        _add(store, "a", 300, 200)
    with pytest.raises(InvalidArgumentError, match="error_rows <= num_rows"):
        store.predictions.add_segment(
            "m",
            digest="a" * 64,
            num_rows=1,
            min_ts=1,
            max_ts=1,
            versions=[1],
            routes=["c"],
            created_ms=1,
            error_rows=2,
        )


def test_a_segment_names_its_profile_blob_and_counts_its_error_rows(store: SqlStore) -> None:
    """``loopml gc`` keeps a segment's profile blob as long as the segment, and lets it go with it."""
    segment = store.predictions.add_segment(
        "m",
        digest="a" * 64,
        num_rows=5,
        min_ts=100,
        max_ts=200,
        versions=[1],
        routes=["champion"],
        created_ms=300,
        profile_digest="p" * 64,
        error_rows=2,
    )
    assert (segment.profile_digest, segment.error_rows) == ("p" * 64, 2)
    assert store.predictions.segments("m") == [segment]
    assert {"a" * 64, "p" * 64} <= set(store.referenced_digests())
    merged = PredictionSegment("f" * 32, "m", "b" * 64, 5, 100, 200, (1,), ("champion",), 400, "q" * 64, 2)
    assert store.predictions.replace_segments("m", [segment.id], [merged]) == [merged]
    digests = set(store.referenced_digests())
    assert {"b" * 64, "q" * 64} <= digests and not {"a" * 64, "p" * 64} & digests


def test_compaction_swaps_segments_in_one_go(store: SqlStore) -> None:
    a, b = _add(store, "a", 100, 199), _add(store, "b", 200, 299)
    merged = PredictionSegment("f" * 32, "m", "d" * 64, 6, 100, 299, (1, 2), ("canary", "champion"), 400)
    assert store.predictions.replace_segments("m", [a.id, b.id], [merged]) == [merged]
    assert store.predictions.segments("m") == [merged]
    assert "a" * 64 not in set(store.referenced_digests())
    other = PredictionSegment("e" * 32, "m", "e" * 64, 6, 100, 299, (1,), ("champion",), 500)
    with pytest.raises(ConflictError, match="are gone"):  # a second compaction of the same segments
        store.predictions.replace_segments("m", [a.id, b.id], [other])
    assert store.predictions.segments("m") == [merged]


def test_labels_by_request_id_newest_wins(store: SqlStore) -> None:
    labels = store.predictions
    assert labels.add_labels("m", [("r1", 1), ("r2", {"y": "spam"}), ("r1", 0)], at_ms=10) == 2
    assert labels.add_labels("m", [("r3", [1.5, None])], at_ms=20) == 1
    assert labels.add_labels("other", [("r1", "x")], at_ms=5) == 1
    got = {(lb.request_id, lb.at_ms): lb.label for lb in labels.labels("m")}
    assert got == {("r1", 10): 0, ("r2", 10): {"y": "spam"}, ("r3", 20): [1.5, None]}
    labels.add_labels("m", [("r1", 7)], at_ms=30)  # newer: replaces
    labels.add_labels("m", [("r2", "old")], at_ms=1)  # older than the stored one: ignored
    assert [(lb.request_id, lb.label) for lb in labels.labels("m", ["r1", "r2", "unknown"])] == [
        ("r2", {"y": "spam"}),
        ("r1", 7),
    ]
    assert [lb.request_id for lb in labels.labels("m", since_ms=15)] == ["r3", "r1"]
    assert [lb.request_id for lb in labels.labels("m", until_ms=15)] == ["r2"]
    assert labels.add_labels("m", [], at_ms=40) == 0


def test_many_request_ids_are_looked_up_at_once(store: SqlStore) -> None:
    """More ids than any database binds parameters for (SQLite 32,766, PostgreSQL 65,535), in one call."""
    ids = [f"req-{i}" for i in range(70_000)]
    store.predictions.add_labels("m", [(r, i) for i, r in enumerate(ids)], at_ms=1)
    store.predictions.add_labels("other", [(r, -1) for r in ids[:10]], at_ms=1)
    found = store.predictions.labels("m", [*ids[::2], "nope", ids[0]])
    assert len(found) == 35_000 and {lb.label for lb in found} == set(range(0, 70_000, 2))
    assert store.predictions.labels("m", []) == []
    assert [lb.label for lb in store.predictions.labels("m", ["req-5", "req-7"], since_ms=2)] == []


def test_whether_a_model_has_labels_is_asked_without_reading_them(store: SqlStore) -> None:
    assert not store.predictions.has_labels("m")
    store.predictions.add_labels("other", [("r1", 1)], at_ms=10)
    assert not store.predictions.has_labels("m")
    store.predictions.add_labels("m", [("r1", 1)], at_ms=10)
    assert store.predictions.has_labels("m") and store.predictions.has_labels("m", since_ms=10)
    assert not store.predictions.has_labels("m", since_ms=11)


def test_a_label_that_is_not_json_is_refused(store: SqlStore) -> None:
    with pytest.raises(InvalidArgumentError, match=r"not JSON|labels must be JSON"):
        store.predictions.add_labels("m", [("r1", object())], at_ms=1)
