"""Helpers shared by the benches in this folder (stdlib only, so any bench can import them).

A bench here compares loopml with another tool. Each tool runs in its own fresh subprocess (and the other
tool in its own virtualenv under ``bench/.venvs/``), so neither one's imports, caches or background threads
colour the other's figures. Results go to ``bench/RESULTS.md``, one ``## ...`` section per bench.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
# git-ignored: other tools' virtualenvs; LOOPML_BENCH_VENVS points elsewhere (say, a checkout's shared
# folder from a git worktree, so the tools are not installed twice)
VENVS_DIR = Path(os.environ.get("LOOPML_BENCH_VENVS") or BENCH_DIR / ".venvs").resolve()
WORK_DIR = BENCH_DIR / ".work"  # git-ignored: scripts, databases and raw results of bench runs
RESULTS_FILE = BENCH_DIR / "RESULTS.md"
RESULTS_TITLE = "# Benchmark results"

_STAMP_FILE = "bench-requirements.txt"


# -- other tools' virtualenvs


def ensure_venv(name: str, requirements: Sequence[str]) -> Path:
    """Create (or reuse) ``bench/.venvs/NAME`` (under ``VENVS_DIR``) holding exactly ``requirements``;
    return its python.

    The venv is built from the interpreter running the bench, so both tools run on the same Python. A stamp
    file records what was installed: a venv whose stamp differs (say, after a version bump) is rebuilt.
    """
    venv = VENVS_DIR / name
    python = venv / "bin" / "python"
    stamp = venv / _STAMP_FILE
    wanted = "\n".join(requirements) + "\n"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    shown = venv.relative_to(REPO_DIR) if venv.is_relative_to(REPO_DIR) else venv
    print(f"setting up {shown} with {' '.join(requirements)} (takes a minute or two)")
    VENVS_DIR.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
    log = VENVS_DIR / f"{name}-install.log"
    with log.open("w") as out:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", *requirements],
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text().splitlines()[-20:])
        raise RuntimeError(f"pip install {' '.join(requirements)} failed (full log: {log}):\n{tail}")
    stamp.write_text(wanted)
    return python


# -- running workloads


def fresh_dir(parent: Path, prefix: str) -> Path:
    """A new empty folder under ``parent`` (so every workload starts from a fresh database)."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


def run_worker(
    python: Path,
    script: Path,
    request: Mapping[str, Any],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 3600,
) -> dict[str, Any]:
    """Run ``python script REQUEST_JSON`` in a fresh process; return the JSON object of its last stdout line.

    ``env`` is the worker's whole environment (default: this one). Workers print their timings as one JSON
    line; anything else they print (tool logs) is ignored.
    """
    proc = subprocess.run(
        [str(python), str(script), json.dumps(dict(request))],
        cwd=cwd,
        env=dict(os.environ if env is None else env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-25:])
        what = f"{script.name} {request.get('workload')}"
        raise RuntimeError(f"{what} failed (exit {proc.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# -- describing the machine


def machine_info() -> dict[str, str]:
    """CPU model, cores, RAM, Python and OS: what a reader needs to weigh the figures."""
    return {
        "cpu": _cpu_model(),
        "cores": str(os.cpu_count() or "?"),
        "ram": _ram(),
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "os": f"{_os_name()} (kernel {platform.release()}, {platform.machine()})",
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                kib = int(line.split()[1])
                return f"{kib / 1024**2:.1f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return "unknown"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


# -- figures


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ratio(other: float, loopml: float) -> float:
    """How many times faster loopml is (the other tool's time over loopml's)."""
    return other / loopml if loopml > 0 else float("inf")


def fmt_ratio(value: float) -> str:
    if value == float("inf"):
        return "×∞ faster"
    if value >= 1:
        return f"×{value:,.1f} faster" if value < 100 else f"×{value:,.0f} faster"
    return f"×{1 / value:,.1f} slower"


def fmt_duration(seconds: float) -> str:
    """A duration in the unit that reads best: µs, ms or s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:,.1f} ms"
    return f"{seconds:,.2f} s"


# -- RESULTS.md


def write_results_section(heading: str, body: str, path: Path = RESULTS_FILE) -> None:
    """Write or replace the section that starts with line ``heading`` (a ``## `` line), keep the others.

    A section runs from its heading to the next ``## `` heading (or the end of the file).
    """
    text = path.read_text() if path.exists() else f"{RESULTS_TITLE}\n"
    lines = text.splitlines()
    section = [heading, "", *body.strip("\n").splitlines(), ""]
    try:
        start = lines.index(heading)
    except ValueError:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", *section]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = section
    while lines and not lines[-1].strip():
        lines.pop()
    path.write_text("\n".join(lines) + "\n")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(out)


def print_report(header: Sequence[str], rows: Sequence[Sequence[str]], notes: Sequence[str]) -> None:
    """The figures as a table and the notes below it, on standard output."""
    print()
    print(markdown_table(header, rows))
    print()
    for note in notes:
        print(f"- {note}")


def changed_during_run(before: str, after: str) -> list[str]:
    """A note when loopml's code changed while a bench ran (others commit meanwhile), else none."""
    if after == before:
        return []
    return [
        f"**WARNING**: loopml's code changed during the run (from {before} to {after}); the figures may mix "
        "both. Run again on a quiet tree."
    ]


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def compile_loopml() -> None:
    """Byte-compile loopml as `pip install` does for a regular install (the peers' venvs have their .pyc
    files): an editable install under PYTHONDONTWRITEBYTECODE would otherwise compile on every start."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO_DIR / "src" / "loopml")], check=True)
