"""Remote mode: with LOOPML_SERVER_URL set, the Python API and the CLI work against a real team server
(uvicorn on loopback) unchanged, and everything lands in the server's Store and artifact store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

import loopml as lm
from loopml import tracking
from loopml.artifacts import LocalArtifactStore
from loopml.cli import app
from loopml.server._app import create_app
from loopml.server._run import serving
from loopml.store import SqlStore


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SqlStore, LocalArtifactStore]]:
    (tmp_path / "server").mkdir()
    store = SqlStore(f"sqlite:///{tmp_path / 'server' / 'loopml.db'}")
    artifacts = LocalArtifactStore(tmp_path / "server" / "artifacts")
    with serving(create_app(store, artifacts, ui=False)) as running:
        monkeypatch.setenv("LOOPML_SERVER_URL", running.url)
        tracking.reset()
        yield store, artifacts
        tracking.reset()
    store.close()


def test_the_python_api_works_against_the_server(
    server: tuple[SqlStore, LocalArtifactStore], tmp_path: Path, loopml_home: Path
) -> None:
    store, artifacts = server
    frame = pd.DataFrame({"x": np.arange(200.0), "y": np.arange(200) % 2})
    with lm.start_run(experiment="remote") as run:
        lm.log_params({"C": 1.0})
        for step in range(300):
            lm.log_metric("loss", 1 / (step + 1), step=step)
        (tmp_path / "notes.txt").write_text("hello")
        lm.log_artifact(tmp_path / "notes.txt")
        version = lm.data.add("points", frame)
        model = LogisticRegression().fit(frame[["x"]], frame["y"])
        registered = lm.register_model("clf", model, input_example=frame[["x"]].head(20))
    lm.flush()
    # in the server's own Store and artifact store, not in the client's home
    stored = store.runs.get_run(run.id)
    assert stored.params == {"C": "1.0"} and len(store.runs.get_metric_history(run.id, "loss")) == 300
    [artifact] = [a for a in store.runs.list_artifacts(run.id) if a.path == "notes.txt"]
    assert artifacts.get_bytes(artifact.digest) == b"hello"
    assert store.datasets.get_latest("points").digest == version.digest
    assert artifacts.exists(version.digest)
    assert store.models.get_latest("clf").version == registered.version
    assert not (loopml_home / "loopml.db").exists()
    # and read back through the server
    loaded = lm.load_model(f"clf:{registered.version}")
    assert list(loaded.predict(frame[["x"]].head(3))) == list(model.predict(frame[["x"]].head(3)))
    assert Path(lm.download_artifact(run.id, "notes.txt", tmp_path / "back")).read_text() == "hello"


def test_the_cli_works_against_the_server(server: tuple[SqlStore, LocalArtifactStore]) -> None:
    with lm.start_run(experiment="remote", name="first"):
        lm.log_metric("acc", 0.9)
    lm.flush()
    result = CliRunner().invoke(app, ["runs", "ls", "--experiment", "remote", "--json"])
    assert result.exit_code == 0, result.output
    assert [r["name"] for r in json.loads(result.output)] == ["first"]
    result = CliRunner().invoke(app, ["runs", "ls", "--filter", "colour = 'red'"])
    assert result.exit_code != 0 and "colour" in result.output and "Traceback" not in result.output
