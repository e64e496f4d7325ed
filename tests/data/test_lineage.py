"""Derived versions record their parents and how they were made; lineage walks back to the sources."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

import loopml as lm
from loopml.cli import app
from loopml.errors import InvalidArgumentError
from loopml.tracking import get_client


def drop_missing(df: pd.DataFrame) -> pd.DataFrame:
    return df.dropna()


def with_site(readings: pd.DataFrame, machines: pd.DataFrame) -> pd.DataFrame:
    return readings.merge(machines, on="machine_id")


@pytest.fixture
def sources() -> tuple[lm.DatasetVersion, lm.DatasetVersion]:
    raw = lm.data.add("raw", pd.DataFrame({"machine_id": [1, 2, 3], "temp": [20.0, None, 25.0]}))
    machines = lm.data.add("machines", pd.DataFrame({"machine_id": [1, 2, 3], "site": ["a", "b", "a"]}))
    return raw, machines


def test_a_derived_version_records_parents_and_the_function(sources) -> None:  # type: ignore[no-untyped-def]
    raw, _ = sources
    clean = lm.data.transform("clean", "raw:1", drop_missing)
    assert clean.parents == (raw.id,) and len(lm.data.load("clean")) == 2
    assert clean.transform is not None
    assert clean.transform["function"].endswith("test_lineage.drop_missing")
    assert clean.transform["inputs"] == ["raw:1"] and len(clean.transform["source_digest"]) == 64


def test_lineage_walks_back_to_every_source(sources) -> None:  # type: ignore[no-untyped-def]
    raw, _ = sources
    lm.data.transform("clean", raw, drop_missing)
    features = lm.data.transform("features", ["clean@latest", "machines:1"], with_site)
    graph = lm.data.lineage("features:1")
    assert graph.root.id == features.id
    assert {v.ref for v in graph.sources} == {"raw:1", "machines:1"}
    assert len(graph.edges) == 3
    clean = graph.versions[features.parents[0]]
    assert clean.transform is not None and features.transform is not None
    assert graph.render().splitlines() == [
        f"features:1  ({features.transform['function']})",
        f"  clean:1  ({clean.transform['function']})",
        "    raw:1  (added)",
        "  machines:1  (added)",
    ]
    assert lm.data.lineage("raw:1").sources == [raw]


def test_inside_a_run_inputs_and_output_are_recorded(sources) -> None:  # type: ignore[no-untyped-def]
    raw, _ = sources
    with lm.start_run() as run:
        clean = lm.data.transform("clean", raw, drop_missing)
    recorded = {(v.id, d) for v, d in get_client().store.datasets.run_datasets(run.id)}
    assert recorded == {(raw.id, "input"), (clean.id, "output")}


@pytest.mark.parametrize(
    ("fn", "error", "message"),
    [
        (lambda df: 42, InvalidArgumentError, "returned a int"),
        (lambda df: 1 / 0, ZeroDivisionError, "division"),
        ("not a function", InvalidArgumentError, "function of DataFrames"),
    ],
)
def test_a_bad_transformation_stores_nothing(sources, fn, error, message) -> None:  # type: ignore[no-untyped-def]
    before = sum(1 for _ in get_client().artifacts.iter_objects())
    with pytest.raises(error, match=message):
        lm.data.transform("clean", "raw:1", fn)
    assert sum(1 for _ in get_client().artifacts.iter_objects()) == before
    assert [d.name for d, _ in get_client().store.datasets.list_datasets()] == ["machines", "raw"]


def test_cli_lineage(sources) -> None:  # type: ignore[no-untyped-def]
    lm.data.transform("clean", "raw:1", drop_missing)
    result = CliRunner().invoke(app, ["data", "lineage", "clean:1"])
    assert result.exit_code == 0 and "clean:1" in result.output and "raw:1  (added)" in result.output
    data = json.loads(CliRunner().invoke(app, ["data", "lineage", "clean@latest", "--json"]).output)
    assert data["ref"] == "clean:1" and data["sources"] == ["raw:1"]
