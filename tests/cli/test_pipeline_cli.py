"""``loopml pipeline run | resume | ls | show``: parameters, cache hits, failures, resume, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopml.cli import app

runner = CliRunner()

PIPELINE = """
from pathlib import Path
import loopml as lm

@lm.pipelines.step
def make(n: int, scale: float) -> list[float]:
    print("making", n)
    return [i * scale for i in range(n)]

@lm.pipelines.step
def check(values: list[float], label: str) -> str:
    if Path("fail.flag").exists():
        raise RuntimeError("told to fail")
    return f"{label}:{sum(values)}"

@lm.pipelines.pipeline
def flow(n: int = 3, scale: float = 1.0, label: str = "sum") -> None:
    check(make(n, scale), label)

not_a_pipeline = 3
"""


@pytest.fixture
def flow_file(tmp_path: Path) -> str:
    path = tmp_path / "flow_mod.py"
    path.write_text(textwrap.dedent(PIPELINE))
    return str(path)


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def run_json(*args: str) -> dict[str, object]:
    code, out = invoke("pipeline", "run", *args, "--json")
    assert code == 0, out
    return json.loads(out)  # type: ignore[no-any-return]


def test_run_twice_the_second_from_cache_with_typed_params(flow_file: str) -> None:
    first = run_json(f"{flow_file}:flow", "--param", "n=4", "-p", "scale=2", "-p", "label=007")
    assert first["status"] == "FINISHED" and first["params"] == {"n": 4, "scale": 2.0, "label": "007"}
    steps = first["steps"]
    assert isinstance(steps, list) and [s["cached"] for s in steps] == [False, False]
    second = run_json(f"{flow_file}:flow", "--param", "n=4", "-p", "scale=2", "-p", "label=007")
    assert [s["cached"] for s in second["steps"]] == [True, True]  # type: ignore[union-attr]
    third = run_json(f"{flow_file}:flow", "-p", "n=4", "-p", "scale=2", "-p", "label=007", "--no-cache")
    assert [s["cached"] for s in third["steps"]] == [False, False]  # type: ignore[union-attr]


def test_params_from_a_yaml_file_under_the_command_line(flow_file: str, tmp_path: Path) -> None:
    config = tmp_path / "params.yaml"
    config.write_text("n: 2\nlabel: from-yaml\n")
    run = run_json(f"{flow_file}:flow", "--config", str(config), "-p", "n=5")
    assert run["params"] == {"n": 5, "scale": 1.0, "label": "from-yaml"}


def test_the_table_view_and_show_and_ls(flow_file: str) -> None:
    code, out = invoke("pipeline", "run", f"{flow_file}:flow")
    assert code == 0 and "make" in out and "2 steps, 0 from cache" in out
    listed = json.loads(invoke("pipeline", "ls", "--json")[1])
    assert len(listed) == 1 and listed[0]["status"] == "FINISHED"
    run_id = listed[0]["id"]
    code, out = invoke("pipeline", "show", run_id)
    assert code == 0 and "check" in out and "FINISHED" in out
    assert invoke("pipeline", "show", run_id, "--logs", "make")[1] == "making 3\n"
    shown = json.loads(invoke("pipeline", "show", run_id, "--json")[1])
    assert [s["name"] for s in shown["steps"]] == ["make", "check"]


def test_a_failure_exits_1_and_resume_finishes_it(flow_file: str, tmp_path: Path) -> None:
    (tmp_path / "fail.flag").touch()
    code, out = invoke("pipeline", "run", f"{flow_file}:flow", "-q")
    assert code == 1 and "step 'check' failed: RuntimeError: told to fail" in out
    assert "Traceback" not in out
    failed = json.loads(invoke("pipeline", "ls", "--json")[1])[0]
    assert failed["status"] == "FAILED"
    (tmp_path / "fail.flag").unlink()
    code, out = invoke("pipeline", "resume", failed["id"], "--json")
    assert code == 0, out
    resumed = json.loads(out)
    assert [(s["name"], s["cached"]) for s in resumed["steps"]] == [("make", True), ("check", False)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "n=many"], "Parameter 'n' takes a whole number, not 'many'"),
        (["-p", "depth=3"], "has no parameter 'depth'; its parameters: n, scale, label"),
        (["-p", "n"], "Write parameters as --param name=value"),
        (["--config", "missing.yaml"], "No parameter file 'missing.yaml'"),
        (["-x", "ray"], "Unknown executor 'ray'"),
    ],
)
def test_bad_parameters_get_one_clear_line(flow_file: str, args: list[str], message: str) -> None:
    code, out = invoke("pipeline", "run", f"{flow_file}:flow", *args)
    assert code == 1 and message in out and "Traceback" not in out


def test_bad_references_get_one_clear_line(flow_file: str) -> None:
    cases = [
        ([f"{flow_file}:not_a_pipeline"], "is not a pipeline: decorate it with @lm.pipeline"),
        ([f"{flow_file}:nowhere"], "has no 'nowhere'"),
        (["no_such_module:flow"], "Cannot import 'no_such_module'"),
        (["flow"], "Name a pipeline as MODULE:NAME or FILE.py:NAME"),
    ]
    for args, message in cases:
        code, out = invoke("pipeline", "run", *args)
        assert code == 1 and message in out, out
    code, out = invoke("pipeline", "resume", "0" * 32)
    assert code == 1 and "No run with id" in out


def test_a_module_in_the_working_folder_runs_as_a_whole_process(flow_file: str, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "loopml", "pipeline", "run", "flow_mod:flow", "-p", "n=3", "--json"]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["steps"][1]["output"]["materializer"] == "json"


def test_trace_walks_from_an_output_back_to_its_steps(flow_file: str) -> None:
    run = run_json(f"{flow_file}:flow")
    steps = run["steps"]
    assert isinstance(steps, list)
    digest = steps[1]["output"]["digest"]
    traced = json.loads(invoke("pipeline", "trace", digest, "--json")[1])
    assert traced["step"] == "check" and traced["pipeline_run"] == run["id"]
    assert traced["inputs"]["values"]["step"] == "make"
    code, out = invoke("pipeline", "trace", digest)
    assert code == 0 and "made by step check" in out and "values:" in out
    code, out = invoke("pipeline", "trace", "0" * 64)
    assert code == 1 and "No run holds the blob" in out


def test_the_live_view_shows_each_step_as_it_changes(flow_file: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from rich.console import Console

    from loopml.cli import _pipeline
    from loopml.pipelines import load_pipeline

    screen = io.StringIO()
    monkeypatch.setattr(_pipeline, "err_console", Console(file=screen, force_terminal=True, width=120))
    with _pipeline.live_view(quiet=False) as on_event:
        assert on_event is not None
        load_pipeline(f"{flow_file}:flow").run(on_event=on_event)
    shown = screen.getvalue()
    assert "flow: 2/2 steps" in shown and "make" in shown and "check" in shown
    with _pipeline.live_view(quiet=True) as on_event:
        assert on_event is None
