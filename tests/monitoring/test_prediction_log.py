"""The prediction log on a real Store (SQLite, PostgreSQL) and a real local blob store: what is logged is read
back typed as it was, personal columns never reach a segment, labels join by request id."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from loopml.artifacts import LocalArtifactStore
from loopml.errors import InvalidArgumentError
from loopml.monitoring import (
    PredictionLogger,
    compact_segments,
    hash_value,
    join_labels,
    log_labels,
    prediction_salt,
    read_labels,
    read_predictions,
)
from loopml.store import SqlStore


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def _logger(store: SqlStore, artifacts: LocalArtifactStore, **kw: object) -> PredictionLogger:
    kw.setdefault("flush_interval", 60.0)  # the tests flush themselves unless they say otherwise
    return PredictionLogger(store, artifacts, model="churn", clock=lambda: 1_700_000_000.0, **kw)  # type: ignore[arg-type]


def test_records_round_trip_through_a_segment_typed_as_they_were(
    store: SqlStore, artifacts: LocalArtifactStore
) -> None:
    logger = _logger(store, artifacts)
    frame = pd.DataFrame({"age": [31, 47], "city": ["Oslo", "Lima"], "score": [0.5, 1.5]})
    assert logger.log(
        request_id="r1",
        model_version=1,
        route="champion",
        inputs=frame,
        outputs=np.array([0.1, 0.9]),
        latency_ms=3.5,
    )
    assert logger.log(
        request_id="r2",
        model_version=2,
        route="canary",
        inputs=[{"age": 22, "city": "Rome", "score": None}],
        outputs=[0.3],
        latency_ms=4.0,
        timestamp_ms=1_700_000_000_500,
    )
    assert logger.buffered_rows == 3
    logger.close()
    assert (logger.written_rows, logger.buffered_rows, logger.dropped) == (3, 0, 0)

    df = read_predictions(store, artifacts, "churn")
    assert list(df.columns) == [
        "request_id",
        "row",
        "timestamp_ms",
        "model",
        "model_version",
        "route",
        "latency_ms",
        "status",
        "input.age",
        "input.city",
        "input.score",
        "output",
    ]
    assert df["request_id"].tolist() == ["r1", "r1", "r2"]
    assert df["row"].tolist() == [0, 1, 0]
    assert df["timestamp_ms"].tolist() == [1_700_000_000_000, 1_700_000_000_000, 1_700_000_000_500]
    assert df["model"].tolist() == ["churn"] * 3
    assert df["model_version"].tolist() == [1, 1, 2] and df["route"].tolist() == ["champion"] * 2 + ["canary"]
    assert df["input.age"].tolist() == [31, 47, 22] and df["input.age"].dtype == np.int64
    assert df["input.city"].tolist() == ["Oslo", "Lima", "Rome"]
    assert df["input.score"].iloc[:2].tolist() == [0.5, 1.5] and pd.isna(df["input.score"].iloc[2])
    assert df["output"].tolist() == [0.1, 0.9, 0.3] and df["output"].dtype == np.float64
    assert df["latency_ms"].tolist() == [3.5, 3.5, 4.0] and df["status"].tolist() == [200] * 3

    [segment] = store.predictions.segments("churn")
    assert (segment.num_rows, segment.min_ts, segment.max_ts) == (3, 1_700_000_000_000, 1_700_000_000_500)
    assert (segment.versions, segment.routes) == ((1, 2), ("canary", "champion"))
    assert segment.digest in set(store.referenced_digests())  # `loopml gc` keeps it

    assert read_predictions(store, artifacts, "churn", version=2)["request_id"].tolist() == ["r2"]
    assert read_predictions(store, artifacts, "churn", route="champion")["row"].tolist() == [0, 1]
    assert len(read_predictions(store, artifacts, "churn", since_ms=1_700_000_000_001)) == 1
    assert len(read_predictions(store, artifacts, "churn", until_ms=1_700_000_000_500)) == 2
    empty = read_predictions(store, artifacts, "nobody")
    assert empty.empty and "request_id" in empty.columns


def test_several_outputs_get_a_column_each(store: SqlStore, artifacts: LocalArtifactStore) -> None:
    logger = _logger(store, artifacts)
    logger.log(
        request_id="a",
        model_version=1,
        route="champion",
        inputs=[{"x": 1}, {"x": 2}],
        outputs=np.array([[0.2, 0.8], [0.6, 0.4]]),
        latency_ms=1,
    )
    logger.log(
        request_id="b",
        model_version=1,
        route="shadow",
        inputs={"x": 3},
        outputs=[{"label": "yes", "p": 0.7}],
        latency_ms=1,
    )
    logger.close()
    df = read_predictions(store, artifacts, "churn")
    assert df["output.0"].tolist()[:2] == [0.2, 0.6] and df["output.1"].tolist()[:2] == [0.8, 0.4]
    assert df["output.label"].tolist()[2] == "yes" and df["output.p"].tolist()[2] == 0.7


def test_values_of_mixed_types_are_kept_as_text(store: SqlStore, artifacts: LocalArtifactStore) -> None:
    logger = _logger(store, artifacts)
    logger.log(request_id="a", model_version=1, route="c", inputs=[{"x": 1}], outputs=["n"], latency_ms=1)
    logger.log(request_id="b", model_version=1, route="c", inputs=[{"x": "two"}], outputs=["n"], latency_ms=1)
    logger.flush()
    logger.log(request_id="c", model_version=1, route="c", inputs=[{"x": 3.5}], outputs=["n"], latency_ms=1)
    logger.close()  # a second segment where the column is a number
    df = read_predictions(store, artifacts, "churn")
    assert [str(v) for v in df["input.x"]] == ["1", "two", "3.5"]


def test_personal_columns_are_hashed_stably_per_salt(store: SqlStore, artifacts: LocalArtifactStore) -> None:
    for salt, model in ((b"pepper", "a"), (b"pepper", "b"), (b"other", "c")):
        logger = PredictionLogger(
            store, artifacts, model=model, personal=["email"], salt=salt, flush_interval=60
        )
        logger.log(
            request_id="r",
            model_version=1,
            route="champion",
            inputs=[{"email": "ada@example.com", "age": 36}, {"email": None, "age": 40}],
            outputs=[1, 0],
            latency_ms=1,
        )
        logger.close()
    a, b, c = (read_predictions(store, artifacts, m) for m in "abc")
    assert a["input.email"].tolist() == b["input.email"].tolist()  # stable for one salt
    assert a["input.email"][0] == hash_value("ada@example.com", b"pepper") != c["input.email"][0]
    assert pd.isna(a["input.email"][1])  # a missing value stays missing
    assert a["input.age"].tolist() == [36, 40]
    for segment in store.predictions.segments("a"):
        assert b"ada@example.com" not in artifacts.get_bytes(segment.digest)


def test_personal_columns_can_be_dropped(store: SqlStore, artifacts: LocalArtifactStore) -> None:
    logger = _logger(store, artifacts, personal=["email"], personal_mode="drop")
    frame = pd.DataFrame({"email": ["ada@example.com"], "age": [36]})
    logger.log(request_id="r", model_version=1, route="champion", inputs=frame, outputs=[1], latency_ms=1)
    logger.close()
    df = read_predictions(store, artifacts, "churn")
    assert "input.email" not in df.columns and df["input.age"].tolist() == [36]
    [segment] = store.predictions.segments("churn")
    assert b"ada@example.com" not in artifacts.get_bytes(segment.digest)


def test_the_default_salt_is_a_private_file_in_the_home(loopml_home: Path) -> None:
    salt = prediction_salt()
    assert len(salt) == 64 and prediction_salt() == salt == prediction_salt(loopml_home)
    path = loopml_home / "prediction-log.salt"
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert hash_value(7, salt) == hash_value(7.0, salt) == hash_value("7", salt) != hash_value(8, salt)


def test_arrays_of_rows_are_logged_under_their_column_names(
    store: SqlStore, artifacts: LocalArtifactStore
) -> None:
    """The server hands numeric requests over as arrays; alone or in bulk, they read back as columns, and
    a personal column among them is still hashed."""
    logger = _logger(store, artifacts, personal=["id"], salt=b"s")
    values = np.array([[1.0, 0.5], [2.0, 1.5], [3.0, 2.5]])
    for i, rows in enumerate((values[:1], values[1:])):
        logger.log(
            request_id=f"r{i}",
            model_version=1,
            route="champion",
            inputs=rows,
            outputs=np.arange(len(rows)),
            latency_ms=1,
            input_names=["id", "x"],
        )
    logger.log(
        request_id="r2",
        model_version=1,
        route="champion",
        inputs=values[:1],
        outputs=[9],
        latency_ms=1,
        input_names=("id", "x"),
    )
    logger.close()
    logged = read_predictions(store, artifacts, "churn")
    assert logged["input.x"].tolist() == [0.5, 1.5, 2.5, 0.5]
    assert logged["output"].tolist() == [0, 0, 1, 9]
    assert logged["input.id"].tolist()[0] == hash_value(1.0, b"s") != 1.0


def test_a_value_parquet_cannot_type_does_not_stop_the_log(
    store: SqlStore, artifacts: LocalArtifactStore
) -> None:
    """An empty object inside a list makes a struct type Parquet refuses: the segment is written with its
    columns as text instead of going back to the buffer for ever."""
    logger = _logger(store, artifacts)
    logger.log(
        request_id="odd", model_version=1, route="c", inputs=[{"obj": {"a": [{}]}}], outputs=[1], latency_ms=1
    )
    for i in range(3):
        logger.log(
            request_id=f"r{i}",
            model_version=1,
            route="c",
            inputs=[{"obj": {"k": i}}],
            outputs=[0],
            latency_ms=1,
        )
    logger.close()
    assert logger.written_rows == 4 and logger.dropped == 0 and logger.last_error is None
    logged = read_predictions(store, artifacts, "churn")
    values = [json.loads(v) for v in logged["input.obj"]]  # as text; fields the others had are null
    assert values[0]["a"] == [{}] and [v["k"] for v in values[1:]] == [0, 1, 2]


def test_the_buffer_is_bounded_in_bytes_too(store: SqlStore, artifacts: LocalArtifactStore) -> None:
    logger = _logger(store, artifacts, max_buffered_bytes=100)

    def log(i: int, **kw: object) -> bool:
        return logger.log(
            request_id=f"r{i}",
            model_version=1,
            route="c",
            inputs=np.zeros((1, 10)),  # 80 bytes
            input_names=[f"c{j}" for j in range(10)],
            outputs=[0],
            latency_ms=1,
            **kw,  # type: ignore[arg-type]
        )

    assert log(0)  # alone, a record is taken whatever its size
    assert not log(1) and logger.dropped == 1  # 160 bytes would pass the bound
    assert log(2, nbytes=10)  # a size given by the caller (the request body's) counts instead
    logger.flush()
    assert log(3)  # written: room again
    logger.close()
    assert logger.written_rows == 3


def test_segments_are_cut_by_size(store: SqlStore, artifacts: LocalArtifactStore) -> None:
    logger = _logger(store, artifacts, max_rows_per_segment=5)
    for i in range(12):
        logger.log(
            request_id=f"r{i}", model_version=1, route="c", inputs=[{"x": i}], outputs=[i], latency_ms=1
        )
    logger.close()
    sizes = [s.num_rows for s in store.predictions.segments("churn")]
    assert sum(sizes) == 12 and max(sizes) <= 5 and logger.written_segments == len(sizes)


def test_buffered_rows_are_written_after_the_flush_interval(
    store: SqlStore, artifacts: LocalArtifactStore
) -> None:
    logger = _logger(store, artifacts, flush_interval=0.02)
    logger.log(request_id="r", model_version=1, route="c", inputs=[{"x": 1}], outputs=[1], latency_ms=1)
    done = threading.Event()
    for _ in range(500):  # no flush() call: the background writer does it
        if done.wait(0.01) or logger.written_rows == 1:
            break
    assert logger.written_rows == 1
    assert len(store.predictions.segments("churn")) == 1
    logger.close()


def test_records_arriving_during_a_slow_write_wait_for_the_next_interval(
    store: SqlStore, artifacts: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A steady trickle of requests while each segment takes a while to store must still give about one
    segment per flush interval, not a segment for whatever arrived during the previous write."""
    put = artifacts.put_bytes

    def slow_put(data: bytes) -> object:
        threading.Event().wait(0.03)
        return put(data)

    monkeypatch.setattr(artifacts, "put_bytes", slow_put)
    logger = _logger(store, artifacts, flush_interval=0.3)
    pause = threading.Event()
    for i in range(150):  # about 1 s of requests, 150 a second
        logger.log(
            request_id=f"r{i}", model_version=1, route="c", inputs=[{"x": i}], outputs=[i], latency_ms=1
        )
        pause.wait(0.006)
    logger.close()
    assert logger.written_rows == 150
    assert logger.written_segments <= 8, logger.written_segments  # at 0.3 s a segment: about 4, plus close


def test_compaction_merges_small_segments_into_one(store: SqlStore, artifacts: LocalArtifactStore) -> None:
    logger = _logger(store, artifacts)
    for i in range(5):
        logger.log(
            request_id=f"r{i}", model_version=1, route="c", inputs=[{"x": i}], outputs=[i], latency_ms=1
        )
        logger.flush()
    logger.close()
    before = read_predictions(store, artifacts, "churn")
    assert len(store.predictions.segments("churn")) == 5
    assert compact_segments(store, artifacts, "churn", target_rows=100) == 4
    assert len(store.predictions.segments("churn")) == 1
    pd.testing.assert_frame_equal(read_predictions(store, artifacts, "churn"), before)


def test_many_threads_then_close_give_exactly_one_row_per_accepted_record(
    store: SqlStore, artifacts: LocalArtifactStore
) -> None:
    logger = PredictionLogger(
        store, artifacts, model="churn", max_rows_per_segment=150, flush_interval=0.01, max_buffered_rows=400
    )
    accepted: list[set[tuple[str, int]]] = [set() for _ in range(12)]
    start = threading.Barrier(12)

    def serve(worker: int) -> None:
        start.wait()
        for i in range(150):
            rows = 1 + i % 3  # some batch requests
            rid = f"w{worker}-{i}"
            ok = logger.log(
                request_id=rid,
                model_version=1 + i % 2,
                route="champion",
                inputs=[{"x": i, "w": worker}] * rows,
                outputs=np.arange(rows, dtype=float),
                latency_ms=0.1,
            )
            if ok:
                accepted[worker].update((rid, r) for r in range(rows))

    threads = [threading.Thread(target=serve, args=(w,)) for w in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    logger.close()

    expected = set().union(*accepted)
    df = read_predictions(store, artifacts, "churn")
    logged = list(zip(df["request_id"], df["row"], strict=True))
    assert len(logged) == len(set(logged)) == logger.written_rows  # no row twice
    assert set(logged) == expected  # every accepted row, and nothing else
    assert logger.written_rows + logger.dropped == 12 * sum(1 + i % 3 for i in range(150))
    assert sum(s.num_rows for s in store.predictions.segments("churn")) == len(logged)


def test_labels_join_by_request_id_even_when_they_arrive_first(
    store: SqlStore, artifacts: LocalArtifactStore
) -> None:
    assert log_labels(store, "churn", {"r2": 1, "unknown": 0}, at_ms=10) == 2  # before any segment
    logger = _logger(store, artifacts)
    for rid, rows in (("r1", 1), ("r2", 2)):
        logger.log(
            request_id=rid,
            model_version=1,
            route="c",
            inputs=[{"x": 1}] * rows,
            outputs=[0] * rows,
            latency_ms=1,
        )
    logger.close()
    assert log_labels(store, "churn", [("r1", np.int64(0))], at_ms=20) == 1
    assert log_labels(store, "churn", [("r2", 0)], at_ms=30) == 1  # a correction replaces the first label

    labels = read_labels(store, "churn")
    assert sorted(labels["request_id"]) == ["r1", "r2", "unknown"]
    joined = join_labels(read_predictions(store, artifacts, "churn"), labels)
    assert joined[["request_id", "row", "label", "label_ms"]].values.tolist() == [
        ["r1", 0, 0, 20],
        ["r2", 0, 0, 30],
        ["r2", 1, 0, 30],
    ]
    assert read_labels(store, "churn", ["r1"])["label"].tolist() == [0]
    assert read_labels(store, "churn", since_ms=25)["request_id"].tolist() == ["r2"]
    unlabelled = join_labels(read_predictions(store, artifacts, "churn"), read_labels(store, "churn", ["x"]))
    assert unlabelled["label"].isna().all()


def test_a_request_needs_one_output_per_row(store: SqlStore, artifacts: LocalArtifactStore) -> None:
    logger = _logger(store, artifacts)
    with pytest.raises(InvalidArgumentError, match="2 input row"):
        logger.log(request_id="r", model_version=1, route="c", inputs=[{}, {}], outputs=[1], latency_ms=1)
    with pytest.raises(InvalidArgumentError, match="DataFrame, a list of row dicts or a 2-D array"):
        logger.log(request_id="r", model_version=1, route="c", inputs="x", outputs=[1], latency_ms=1)
    with pytest.raises(InvalidArgumentError, match=r"2 column.*needs as many input_names, not 1"):
        logger.log(
            request_id="r",
            model_version=1,
            route="c",
            inputs=np.zeros((1, 2)),
            outputs=[1],
            latency_ms=1,
            input_names=["a"],
        )
    logger.close()
    assert not logger.log(request_id="r", model_version=1, route="c", inputs=[{}], outputs=[1], latency_ms=1)
    assert logger.dropped == 1  # after close: refused and counted


def test_importing_monitoring_loads_neither_pyarrow_nor_pandas() -> None:
    heavy = "('pyarrow', 'pandas', 'sqlalchemy')"
    code = f"import sys, loopml.monitoring; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
