"""Datasets as a user adds and loads them: every source, references, schemas, runs, and bad input."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import loopml as lm
from loopml.artifacts import hash_file
from loopml.errors import IntegrityError, InvalidArgumentError, NotFoundError
from loopml.tracking import get_client


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "machine_id": rng.integers(1, 20, 500),
            "temp": rng.normal(50, 10, 500),
            "status": rng.choice(["ok", "warn", "fail"], 500),
            "ts": pd.date_range("2026-01-01", periods=500, freq="min", tz="UTC"),
        }
    )


def stored_objects() -> int:
    return sum(1 for _ in get_client().artifacts.iter_objects())


class TestSources:
    def test_dataframe_round_trip_versions_and_dedup(self, frame: pd.DataFrame) -> None:
        v1 = lm.data.add("sensors", frame, description="raw readings")
        assert (v1.ref, v1.num_rows, v1.kind) == ("sensors:1", 500, "file")
        pd.testing.assert_frame_equal(lm.data.load("sensors:1"), frame)
        assert lm.data.add("sensors", frame.copy()).id == v1.id  # identical content: the same version
        v2 = lm.data.add("sensors", frame.head(100))
        assert v2.version == 2 and lm.data.get("sensors@latest").id == v2.id
        assert len(lm.data.load("sensors")) == 100
        assert v1.environment["loopml"] == lm.__version__ and "pyarrow" in v1.environment

    def test_arrow_table_and_as_arrow(self, frame: pd.DataFrame) -> None:
        table = pa.Table.from_pandas(frame, preserve_index=False)
        lm.data.add("t", table)
        back = lm.data.load("t", as_arrow=True, columns=["temp", "status"])
        assert back.column_names == ["temp", "status"] and back.num_rows == 500

    def test_parquet_file_is_stored_as_it_is(self, frame: pd.DataFrame, tmp_path: Path) -> None:
        path = tmp_path / "readings.parquet"
        frame.to_parquet(path, row_group_size=100)
        version = lm.data.add("p", path)
        assert version.digest == hash_file(path)
        pd.testing.assert_frame_equal(lm.data.load("p"), pd.read_parquet(path))

    def test_csv_file_is_converted_in_batches(self, tmp_path: Path) -> None:
        path = tmp_path / "r.csv"
        path.write_text("a,b\n" + "".join(f"{i},x{i % 3}\n" for i in range(1000)))
        version = lm.data.add("c", path)
        assert version.num_rows == 1000
        assert lm.data.load("c")["a"].sum() == sum(range(1000))

    def test_folder_of_parquet_files(self, frame: pd.DataFrame, tmp_path: Path) -> None:
        folder = tmp_path / "parts"
        (folder / "day=1").mkdir(parents=True)
        frame.iloc[:200].to_parquet(folder / "day=1" / "part-0.parquet", index=False)
        frame.iloc[200:].to_parquet(folder / "part-1.parquet", index=False)
        version = lm.data.add("parts", folder)
        assert version.kind == "dir" and version.num_rows == 500
        assert len(lm.data.load("parts")) == 500


class TestReferences:
    def test_tags_resolve_and_move(self, frame: pd.DataFrame) -> None:
        lm.data.add("s", frame, tags=["prod"])
        lm.data.add("s", frame.head(10))
        assert lm.data.get("s@prod").version == 1
        lm.data.tag("s:2", "prod")
        assert lm.data.get("s@prod").version == 2 and lm.data.get("s:1").tags == ()

    @pytest.mark.parametrize("ref", ["s:0", "s:x", "s/../x", "s@", ":3", 3])
    def test_malformed_references(self, ref: object) -> None:
        with pytest.raises(InvalidArgumentError):
            lm.data.get(ref)  # type: ignore[arg-type]

    def test_unknown_dataset_version_and_tag(self, frame: pd.DataFrame) -> None:
        lm.data.add("s", frame)
        for ref, message in [("nope", "No dataset named"), ("s:4", "no version 4"), ("s@gold", "no tag")]:
            with pytest.raises(NotFoundError, match=message):
                lm.data.load(ref)

    def test_latest_is_reserved(self, frame: pd.DataFrame) -> None:
        with pytest.raises(InvalidArgumentError, match="latest"):
            lm.data.add("s", frame, tags=["latest"])


class TestSchema:
    def test_types_nulls_ranges_and_categories(self, frame: pd.DataFrame) -> None:
        frame.loc[3, "temp"] = np.nan
        columns = {c["name"]: c for c in lm.data.add("s", frame).schema["columns"]}
        assert columns["temp"]["nullable"] is True and columns["temp"]["null_count"] == 1
        assert columns["machine_id"]["nullable"] is False
        assert columns["machine_id"]["min"] >= 1 and columns["machine_id"]["max"] <= 19
        assert columns["status"]["categories"] == ["fail", "ok", "warn"]
        assert "categories" not in columns["temp"] and columns["ts"]["type"].startswith("timestamp")

    def test_a_column_of_many_distinct_values_is_text_not_a_category(self) -> None:
        # documented behaviour: above CATEGORY_LIMIT distinct values a column is free text, never an error
        ids = pd.DataFrame({"user": [f"u{i}" for i in range(300_000)]})
        (column,) = lm.data.add("users", ids).schema["columns"]
        assert "categories" not in column and column["null_count"] == 0

    def test_a_new_schema_says_how_it_changed(self, frame: pd.DataFrame) -> None:
        lm.data.add("s", frame)
        changed = frame.drop(columns=["status"]).assign(extra=1, temp=frame["temp"].astype("float32"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lm.data.add("s", changed)
        (message,) = [str(w.message) for w in caught if issubclass(w.category, lm.data.SchemaChangeWarning)]
        assert "'extra' added" in message and "'status' removed" in message and "'temp' retyped" in message


class TestRuns:
    def test_loading_and_adding_inside_a_run_are_recorded(self, frame: pd.DataFrame) -> None:
        raw = lm.data.add("raw", frame)
        with lm.start_run() as run:
            df = lm.data.load("raw@latest")
            clean = lm.data.add("clean", df.dropna())
        recorded = get_client().store.datasets.run_datasets(run.id)
        assert [(v.id, d) for v, d in recorded] == [(raw.id, "input"), (clean.id, "output")]


class TestIntegrity:
    def test_a_tampered_blob_is_refused_on_load(self, frame: pd.DataFrame) -> None:
        version = lm.data.add("s", frame)
        path = get_client().artifacts.local_path(version.digest)
        assert path is not None
        path.chmod(0o644)
        data = bytearray(path.read_bytes())
        data[100] ^= 0xFF
        path.write_bytes(bytes(data))
        with pytest.raises(IntegrityError, match="loopml doctor"):
            lm.data.load("s")


def _truncated(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "cut.parquet"
    frame.to_parquet(path)
    path.write_bytes(path.read_bytes()[:-200])
    return path


def _garbage(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "junk.parquet"
    path.write_bytes(b"this is not parquet" * 100)
    return path


def _mixed_folder(tmp_path: Path, frame: pd.DataFrame) -> Path:
    folder = tmp_path / "mixed"
    folder.mkdir()
    frame.to_parquet(folder / "a.parquet")
    (folder / "README.txt").write_text("notes")
    return folder


def _two_schemas(tmp_path: Path, frame: pd.DataFrame) -> Path:
    folder = tmp_path / "two"
    folder.mkdir()
    frame.to_parquet(folder / "a.parquet")
    frame.drop(columns=["temp"]).to_parquet(folder / "b.parquet")
    return folder


def _empty_csv(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "e.csv"
    path.write_text("a,b\n")
    return path


def _unsupported(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "data.xlsx"
    path.write_bytes(b"x")
    return path


class TestBadInputLeavesNothing:
    @pytest.mark.parametrize(
        ("make", "message"),
        [
            (lambda t, f: pd.DataFrame(), "no columns"),
            (lambda t, f: f.head(0), "no rows"),
            (lambda t, f: pd.DataFrame([[1, 2]], columns=["a", "a"]), "duplicate column names"),
            (lambda t, f: pd.DataFrame([[1, 2]], columns=[0, 1]), "not strings"),
            (lambda t, f: pd.DataFrame({"a": [1, "x", 2.5]}), "Column 'a' mixes value types"),
            (
                lambda t, f: pa.table([pa.array([1]), pa.array([2])], names=["a", "a"]),
                "duplicate column names",
            ),
            (_truncated, "is it truncated"),
            (_garbage, "not a readable Parquet file"),
            (_mixed_folder, "not Parquet"),
            (_two_schemas, "another schema"),
            (_empty_csv, "no rows"),
            (_unsupported, "reads .parquet and .csv"),
            (lambda t, f: [1, 2, 3], "Cannot add a list"),
        ],
    )
    def test_bad_sources(self, make, message: str, tmp_path: Path, frame: pd.DataFrame) -> None:  # type: ignore[no-untyped-def]
        lm.data.add("s", frame)  # one good version, so that the store exists and has one blob
        before = stored_objects()
        with pytest.raises(InvalidArgumentError, match=message):
            lm.data.add("s", make(tmp_path, frame))
        assert stored_objects() == before
        assert [v.version for v in lm.data.versions("s")] == [1]

    @pytest.mark.parametrize("name", ["../etc", "a/b", "a b", "", ".hidden", "x" * 129, "a..b", "s:1", "s@x"])
    def test_names_with_path_characters_are_refused(self, name: str, frame: pd.DataFrame) -> None:
        with pytest.raises(InvalidArgumentError, match="not allowed"):
            lm.data.add(name, frame)
        assert stored_objects() == 0

    def test_missing_path(self, tmp_path: Path) -> None:
        with pytest.raises(NotFoundError):
            lm.data.add("s", tmp_path / "nope.parquet")


def test_parquet_written_by_another_tool_keeps_its_row_groups(tmp_path: Path) -> None:
    table = pa.table({"x": list(range(10_000))})
    path = tmp_path / "rg.parquet"
    pq.write_table(table, path, row_group_size=1000)
    lm.data.add("rg", path)
    local = get_client().artifacts.local_path(lm.data.get("rg").digest)
    assert local is not None and pq.ParquetFile(local).num_row_groups == 10


class TestUnchangedReAdd:
    def test_unchanged_file_and_folder_are_not_read_again(
        self, frame: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        import os
        import time

        import loopml.data._sources as sources

        file = tmp_path / "r.parquet"
        frame.to_parquet(file)
        folder = tmp_path / "parts"
        folder.mkdir()
        frame.iloc[:250].to_parquet(folder / "a.parquet")
        frame.iloc[250:].to_parquet(folder / "b.parquet")
        then = time.time() - 60
        for p in [file, folder / "a.parquet", folder / "b.parquet"]:
            os.utime(p, (then, then))
        first_file = lm.data.add("f", file)
        first_dir = lm.data.add("d", folder)

        def refuse(*args: object, **kwargs: object) -> None:
            raise AssertionError("unchanged data was read again")

        monkeypatch.setattr(sources, "ingest", refuse)
        with lm.start_run() as run:
            assert lm.data.add("f", file, tags=["prod"]).id == first_file.id
            assert lm.data.add("d", folder).id == first_dir.id
        assert lm.data.get("f@prod").id == first_file.id
        recorded = get_client().store.datasets.run_datasets(run.id)
        assert {(v.id, d) for v, d in recorded} == {(first_file.id, "output"), (first_dir.id, "output")}

    def test_changed_file_makes_a_new_version(self, frame: pd.DataFrame, tmp_path: Path) -> None:
        file = tmp_path / "r.parquet"
        frame.to_parquet(file)
        lm.data.add("f", file)
        frame.head(10).to_parquet(file)
        assert lm.data.add("f", file).version == 2


def test_progress_reports_rows_read_up_to_the_total(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    pq.write_table(pa.table({"x": list(range(200_000))}), path, row_group_size=50_000)
    seen: list[tuple[int, int | None]] = []
    lm.data.add("big", path, progress=lambda done, total: seen.append((done, total)))
    assert len(seen) >= 4 and seen[-1] == (200_000, 200_000)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
