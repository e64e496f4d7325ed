"""``loopml data add`` of unchanged content, answered before the command loads: the same output as the
command, and the command itself whenever the quick answer is not certain."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from loopml import tracking
from loopml.cli import app
from loopml.cli._quick import answer

runner = CliRunner()
HEAVY = ("sqlalchemy", "alembic", "typer", "click", "rich", "pyarrow", "pandas", "numpy")


def aged(path: Path, age: float = 60.0) -> Path:
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def parquet(path: Path, rows: int = 30, start: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.table({"id": list(range(start, start + rows)), "temp": [0.5 * i for i in range(rows)]})
    pq.write_table(table, path)
    return aged(path)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A Parquet file and a folder of Parquet files, last written a minute ago."""
    root = tmp_path / "data"
    parquet(root / "readings.parquet", rows=100)
    for i in range(6):
        parquet(root / "parts" / ("2026" if i % 2 else ".") / f"part-{i}.parquet", start=30 * i)
    return root


def command(*args: str) -> str:
    """What the command prints when it runs as usual (the typer app, which the quick answer skips)."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def quick(capsys: pytest.CaptureFixture[str], *args: str) -> str | None:
    """What the quick answer prints, or None when it leaves the command to run as usual."""
    capsys.readouterr()
    answered = answer(list(args))
    out = capsys.readouterr().out
    if not answered:
        assert out == ""
        return None
    return out


@pytest.mark.parametrize("source", ["readings.parquet", "parts"])
def test_unchanged_content_is_answered_with_what_the_command_prints(
    data: Path, source: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(data / source)
    first = json.loads(command("data", "add", "sensors", path, "--json"))
    assert first["version"] == 1
    for flags in (["--json"], ["--json", "--quiet"], ["-q", "--json"]):
        out = quick(capsys, "data", "add", "sensors", path, *flags)
        assert out is not None and out == command("data", "add", "sensors", path, *flags)
        assert json.loads(out) == first
    for flags in ([], ["--quiet"]):
        out = quick(capsys, "data", "add", "sensors", path, *flags)
        assert out is not None and out == command("data", "add", "sensors", path, *flags)
        assert out.startswith("sensors:1  ")
    relative = os.path.relpath(path)  # the tests run in tmp_path
    assert quick(capsys, "data", "add", "sensors", relative, "--json") == command(
        "data", "add", "sensors", path, "--json"
    )


def test_tags_set_before_are_in_the_answer(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(data / "parts")
    command("data", "add", "sensors", path, "-t", "prod", "-t", "audited")
    out = quick(capsys, "data", "add", "sensors", path, "--json")
    assert out is not None and json.loads(out)["tags"] == ["audited", "prod"]
    assert out == command("data", "add", "sensors", path, "--json")


@pytest.mark.parametrize("change", ["content", "added", "removed"])
def test_a_changed_folder_is_left_to_the_command(
    data: Path, change: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = data / "parts"
    command("data", "add", "sensors", str(folder))
    if change == "content":
        parquet(folder / "part-0.parquet", start=1000)
    elif change == "added":
        parquet(folder / "2026" / "part-9.parquet", start=900)
    else:
        (folder / "2026" / "part-1.parquet").unlink()
    assert quick(capsys, "data", "add", "sensors", str(folder), "--json") is None
    assert json.loads(command("data", "add", "sensors", str(folder), "--json"))["version"] == 2
    assert quick(capsys, "data", "add", "sensors", str(folder), "--json") is not None  # and known again


def test_a_changed_file_is_left_to_the_command(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = data / "readings.parquet"
    command("data", "add", "sensors", str(path))
    parquet(path, rows=100, start=7)
    assert quick(capsys, "data", "add", "sensors", str(path), "--json") is None
    assert json.loads(command("data", "add", "sensors", str(path), "--json"))["version"] == 2


def test_content_written_just_now_is_left_to_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fresh.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), path)
    command("data", "add", "fresh", str(path))
    assert quick(capsys, "data", "add", "fresh", str(path), "--json") is None


@pytest.mark.parametrize(
    "args",
    [
        ["--tag", "prod"],
        ["-t", "prod"],
        ["--tag=prod"],
        ["--description", "raw"],
        ["-d", "raw"],
        ["--help"],
        ["--"],
        ["--verbose"],
        ["-qt", "prod"],
        ["extra"],
    ],
)
def test_other_options_are_left_to_the_command(
    data: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(data / "readings.parquet")
    command("data", "add", "sensors", path)
    assert quick(capsys, "data", "add", "sensors", path, "--json") is not None
    assert quick(capsys, "data", "add", "sensors", path, "--json", *args) is None
    assert quick(capsys, "data", "add", "sensors") is None
    assert quick(capsys, "data", "show", "sensors", "--json") is None
    assert quick(capsys) is None


def test_tags_given_go_through_the_command(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(data / "parts")
    command("data", "add", "sensors", path)
    assert quick(capsys, "data", "add", "sensors", path, "-t", "prod", "--json") is None
    assert json.loads(command("data", "add", "sensors", path, "-t", "prod", "--json"))["tags"] == ["prod"]


def test_unknown_names_and_paths_are_left_to_the_command(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(data / "parts")
    command("data", "add", "sensors", path)
    assert quick(capsys, "data", "add", "weather", path, "--json") is None  # same content, another name
    assert quick(capsys, "data", "add", "sensors", str(data / "missing"), "--json") is None
    assert quick(capsys, "data", "add", "../x", path, "--json") is None
    result = runner.invoke(app, ["data", "add", "../x", path])
    assert result.exit_code == 1 and "not allowed" in result.output


def test_a_database_at_another_revision_is_left_to_the_command(
    data: Path, loopml_home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(data / "readings.parquet")
    command("data", "add", "sensors", path)
    with monkeypatch.context() as m:
        m.setattr("loopml.store._readonly.HEAD", "0004")  # as if this loopml expected another revision
        assert quick(capsys, "data", "add", "sensors", path, "--json") is None
    db = loopml_home / "loopml.db"
    with sqlite3.connect(db) as conn:  # a database a newer loopml migrated
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    assert quick(capsys, "data", "add", "sensors", path, "--json") is None


def test_a_broken_digest_cache_is_left_to_the_command(
    data: Path, loopml_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(data / "parts")
    command("data", "add", "sensors", path)
    cache = loopml_home / "artifacts" / "cache" / "digests.sqlite"
    tracking.reset()  # let go of the cache before breaking it
    for leftover in cache.parent.glob("digests.sqlite*"):
        leftover.unlink()
    cache.write_bytes(b"not a database" * 100)
    assert quick(capsys, "data", "add", "sensors", path, "--json") is None
    assert json.loads(command("data", "add", "sensors", path, "--json"))["version"] == 1


def test_a_postgres_database_is_left_to_the_command(
    data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(data / "readings.parquet")
    command("data", "add", "sensors", path)
    monkeypatch.setenv("LOOPML_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert quick(capsys, "data", "add", "sensors", path, "--json") is None  # and no connection is tried


@pytest.mark.postgres
def test_re_adding_on_postgres_goes_through_the_command(
    data: Path, postgres_schema_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOOPML_DATABASE_URL", postgres_schema_url)
    path = str(data / "parts")
    first = json.loads(command("data", "add", "sensors", path, "--json"))
    assert quick(capsys, "data", "add", "sensors", path, "--json") is None
    assert json.loads(command("data", "add", "sensors", path, "--json")) == first


def test_a_bad_setting_is_left_to_the_command(
    data: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(data / "readings.parquet")
    command("data", "add", "sensors", path)
    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "soon")
    assert quick(capsys, "data", "add", "sensors", path, "--json") is None
    tracking.reset()  # the command reads its settings again, as a new process does
    result = runner.invoke(app, ["data", "add", "sensors", path])
    assert result.exit_code == 1 and "LOOPML_FLUSH_INTERVAL" in result.output


def test_settings_from_loopml_toml_are_the_commands(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOOPML_HOME")
    (tmp_path / "loopml.toml").write_text('[loopml]\nhome = "elsewhere"\n')
    path = str(data / "parts")
    first = command("data", "add", "sensors", path, "--json")
    assert (tmp_path / "elsewhere" / "loopml.db").is_file()
    assert quick(capsys, "data", "add", "sensors", path, "--json") == first


def run_loopml(*args: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    """``loopml ARGS`` as a user runs it, in a new process with this test's settings."""
    script = code or "from loopml.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.argv = ['loopml', *{list(args)!r}]; {script}"],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_whole_process_answers_without_loading_typer_sqlalchemy_or_pyarrow(data: Path) -> None:
    for source in ("readings.parquet", "parts"):
        args = ("data", "add", "sensors-" + source.split(".")[0], str(data / source), "--json")
        first = run_loopml(*args)
        assert first.returncode == 0, first.stderr
        again = run_loopml(
            *args,
            code=(
                "from loopml.cli import main; main(); "
                f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}), file=sys.stderr)"
            ),
        )
        assert again.returncode == 0 and again.stdout == first.stdout
        assert again.stderr.strip() == "[]"


def test_a_whole_process_that_cannot_answer_quickly_runs_the_command(data: Path) -> None:
    path = str(data / "readings.parquet")
    first = run_loopml("data", "add", "sensors", path, "--json")
    tagged = run_loopml("data", "add", "sensors", path, "--tag", "prod", "--json")
    assert tagged.returncode == 0, tagged.stderr
    assert json.loads(tagged.stdout) == {**json.loads(first.stdout), "tags": ["prod"]}
    missing = run_loopml("data", "add", "sensors", str(data / "nothing.parquet"))
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
