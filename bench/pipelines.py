"""loopml's pipelines: the cost of a cached step, a 1,000-step fan-out, and a 10-step pipeline side by side
with Prefect.

    .venv/bin/python bench/pipelines.py [--quick] [--keep] [--no-write] [--repeats N]

Three workloads, all in one run:

1. Cached-step overhead (loopml alone). In a fresh process with a fresh ``LOOPML_HOME``, a chain of 200
   no-op steps (each takes the previous step's output) runs once, then again fully cached in the same
   process, ``--reruns`` times; the median cached run divided by the number of steps is the overhead of one
   cached step. Goal: under 5 ms.
2. A 1,000-step fan-out (loopml alone). One source step, 1,000 independent no-op steps each taking the
   source's output and their index, one gather step taking the list of their outputs: planned and run cold
   on the local executor in a fresh process and home, then rerun fully cached. Goal: cold under 10 s.
3. Side by side with Prefect. The same 10-step pipeline (a seeded 200 x 200 array, then nine steps of a
   matrix product, tanh, sin and a standardisation, each step's output feeding the next), written once for
   each tool, runs as a whole process as a user runs it: ``loopml pipeline run lm_chain:chain --param n=10``
   and ``python prefect_chain.py``. Each repeat takes a fresh workspace (a fresh ``./.loopml``; a fresh
   ``PREFECT_HOME``, which holds Prefect's SQLite database and its result storage) and runs there: cold,
   then fully cached, then once more with the cache off (every step recomputed on an existing home, for
   context). Prefect 3 runs as a local user runs it: no server started beforehand, so each flow run starts
   Prefect's temporary local server on its SQLite database; its tasks cache on their inputs and source
   (``cache_policy=INPUTS + TASK_SOURCE``, ``persist_result=True``). Medians of ``--repeats``; the goal is
   Prefect's time at least 10 times loopml's, cold and cached.

Every result is checked, untimed: each step body appends a line (its name, index and a checksum of its
output) to ``calls.log`` in the workspace, so a cold or uncached run must add exactly one line per step,
with the checksums the bench computes itself, and a cached run none; loopml must report every step of a
cached run cached, Prefect every task run ``Cached``; the fan-out's gather must return the right sum.

Prefect lives in ``bench/.venvs/prefect`` (never in the project's venv); the generated modules, homes and raw
results go under ``bench/.work/pipelines-*``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: make _common importable

from _common import (
    REPO_DIR,
    RESULTS_FILE,
    WORK_DIR,
    changed_during_run,
    compile_loopml,
    ensure_venv,
    fmt_duration,
    fmt_ratio,
    fresh_dir,
    load_average,
    machine_info,
    markdown_table,
    median,
    print_report,
    ratio,
    run_worker,
    utc_now,
    write_results_section,
)

# Pinned so figures stay comparable (the newest Prefect 3 release that installs from the package index when
# this bench was written: 3.9.x needs a certifi release the index does not have yet). Prefect 3.8.8 allows any
# FastAPI below 1.0, but its temporary server fails to import with FastAPI 0.155 and newer (``Body`` lost its
# ``min_items`` argument), so FastAPI is pinned too. numpy is the project's own pin: both tools do the same
# arithmetic with the same library. Bump on purpose, and say so in RESULTS.md.
PREFECT_REQUIREMENTS = ["prefect==3.8.8", "fastapi==0.154.0", "numpy==2.4.6"]
RESULTS_HEADING = "## Pipelines (bench/pipelines.py)"
LOOPML_PYTHON = REPO_DIR / ".venv" / "bin" / "python"
LOOPML_CLI = REPO_DIR / ".venv" / "bin" / "loopml"
STEP_OVERHEAD_GOAL_S = 0.005  # "loopml's overhead per cached step under 5 ms"
FANOUT_GOAL_S = 10.0  # "a 1,000-step fan-out pipeline of no-op steps planned and run ... in under 10 s"
SIDE_BY_SIDE_GOAL = 10.0  # "at least 10x faster than that orchestrator both cold and cached"
CHAIN_LENGTH = 10  # steps of the side-by-side pipeline
MODES = ("cold", "cached", "uncached")
CALLS_FILE = "calls.log"


@dataclass(frozen=True)
class Sizes:
    chain_steps: int  # the no-op chain of the cached-step overhead
    reruns: int  # cached reruns of that chain
    fanout: int  # width of the fan-out
    repeats: int  # fresh workspaces per tool in the side-by-side

    @classmethod
    def full(cls, repeats: int) -> Sizes:
        return cls(chain_steps=200, reruns=5, fanout=1_000, repeats=repeats)

    @classmethod
    def quick(cls, repeats: int) -> Sizes:
        return cls(chain_steps=50, reruns=3, fanout=100, repeats=repeats)


# -- the work of the side-by-side pipeline: one text, pasted into both tools' modules and run here for the
# expected checksums, so both do the same arithmetic and the bench knows what each step must produce

WORK_CODE = '''
SEED, SIZE = 20241122, 200
CALLS = Path("calls.log")  # in the working directory: the workspace


def make_array(seed: int, size: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((size, size))


def transform_array(a: np.ndarray, i: int) -> np.ndarray:
    b = np.tanh(a @ a.T / a.shape[0]) + 0.5 * np.sin(a) + i
    return (b - b.mean()) / b.std()


def checksum(a: np.ndarray) -> float:
    return float(np.abs(a).sum())


def record(name: str, i: int, a: np.ndarray) -> np.ndarray:
    """The side effect that tells the bench a step body ran (a cached step must not run it)."""
    with CALLS.open("a") as out:
        out.write(f"{name} {i} {checksum(a)!r}\\n")
    return a
'''

LOOPML_CHAIN = f'''"""The bench's 10-step pipeline for loopml (written by bench/pipelines.py)."""

from pathlib import Path

import numpy as np

import loopml as lm
{WORK_CODE}

@lm.step
def make(seed: int, size: int) -> np.ndarray:
    return record("make", 0, make_array(seed, size))


@lm.step
def transform(a: np.ndarray, i: int) -> np.ndarray:
    return record("transform", i, transform_array(a, i))


@lm.pipeline(name="chain")
def chain(n: int = 10) -> None:
    a = make(SEED, SIZE)
    for i in range(1, n):
        a = transform(a, i)
'''

PREFECT_CHAIN = f'''"""The bench's 10-step pipeline for Prefect 3 (written by bench/pipelines.py)."""

import sys
from pathlib import Path

import numpy as np
from prefect import flow, task
from prefect.cache_policies import INPUTS, TASK_SOURCE
{WORK_CODE}
CACHE = INPUTS + TASK_SOURCE


@task(cache_policy=CACHE, persist_result=True)
def make(seed: int, size: int) -> np.ndarray:
    return record("make", 0, make_array(seed, size))


@task(cache_policy=CACHE, persist_result=True)
def transform(a: np.ndarray, i: int) -> np.ndarray:
    return record("transform", i, transform_array(a, i))


@flow(name="chain")
def chain(n: int = 10) -> float:
    a = make(SEED, SIZE)
    for i in range(1, n):
        a = transform(a, i)
    return checksum(a)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    print(f"result {{chain(n)!r}}")
'''


def expected_calls(n: int) -> list[tuple[str, int, float]]:
    """(step, index, checksum) of each step body of the side-by-side pipeline, in order, computed here."""
    import numpy as np

    scope: dict[str, Any] = {"np": np, "Path": Path}
    exec(WORK_CODE, scope)  # the bench's own text, shared with the generated modules
    a = scope["make_array"](scope["SEED"], scope["SIZE"])
    calls = [("make", 0, scope["checksum"](a))]
    for i in range(1, n):
        a = scope["transform_array"](a, i)
        calls.append(("transform", i, scope["checksum"](a)))
    return calls


def read_calls(workspace: Path) -> list[tuple[str, int, float]]:
    path = workspace / CALLS_FILE
    if not path.exists():
        return []
    calls = []
    for line in path.read_text().splitlines():
        name, index, value = line.split()
        calls.append((name, int(index), float(value)))
    return calls


def same_calls(got: Sequence[tuple[str, int, float]], want: Sequence[tuple[str, int, float]]) -> bool:
    """Same steps in the same order, checksums equal to 1e-9 (BLAS may sum in another order)."""
    return len(got) == len(want) and all(
        g[:2] == w[:2] and math.isclose(g[2], w[2], rel_tol=1e-9) for g, w in zip(got, want, strict=True)
    )


# -- the in-process workloads of loopml (cached-step overhead, fan-out), run by a worker in a fresh process

LOOPML_WORKER = '''"""loopml's in-process pipeline workloads (written by bench/pipelines.py)."""

import json
import sys
import time

import loopml as lm


@lm.step
def noop(x: int) -> int:
    return x + 1


@lm.pipeline(name="noop-chain")
def noop_chain(n: int = 200) -> None:
    h = noop(0)
    for _ in range(n - 1):
        h = noop(h)


@lm.step
def source() -> int:
    return 7


@lm.step
def branch(x: int, i: int) -> int:
    return x + i


@lm.step
def gather(xs: list[int]) -> int:
    total = sum(xs)
    with open("gather.out", "w") as out:  # the bench reads it back: the sum must be right
        out.write(str(total))
    return total


@lm.pipeline(name="fan-out")
def fan_out(n: int = 1000) -> None:
    s = source()
    gather([branch(s, i) for i in range(n)])


def timed(pipeline, **params):
    start = time.perf_counter()
    run = pipeline(**params)
    took = time.perf_counter() - start
    steps = list(run.steps)
    return took, {
        "status": run.status,
        "steps": len(steps),
        "cached": sum(1 for s in steps if s.cached),
        "step_s": sum(s.duration_s or 0.0 for s in steps),
    }


def main(request):
    if request["workload"] == "chain":
        pipeline, params = noop_chain, {"n": request["steps"]}
    else:
        pipeline, params = fan_out, {"n": request["width"]}
    cold_s, cold = timed(pipeline, **params)
    cached = [timed(pipeline, **params) for _ in range(request["reruns"])]
    return {
        "version": lm.__version__,
        "cold_s": cold_s,
        "cold": cold,
        "cached_s": [t for t, _ in cached],
        "cached": [r for _, r in cached],
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
'''


def check_in_process(name: str, result: Mapping[str, Any], steps: int) -> None:
    """The cold run ran every step, every rerun found every step cached, and all finished."""
    runs = [result["cold"], *result["cached"]]
    bad = [r for r in runs if r["status"] != "FINISHED" or r["steps"] != steps]
    if bad:
        raise RuntimeError(f"{name}: expected {steps} steps FINISHED in every run, got {bad}")
    if result["cold"]["cached"] != 0:
        raise RuntimeError(f"{name}: the cold run reported {result['cold']['cached']} cached steps")
    partly = [r["cached"] for r in result["cached"] if r["cached"] != steps]
    if partly:
        raise RuntimeError(f"{name}: cached reruns reported {partly} of {steps} steps cached")


def run_in_process(session: Path, worker: Path, request: Mapping[str, Any]) -> dict[str, Any]:
    workspace = fresh_dir(session, f"loopml-{request['workload']}-")
    env = {**_base_env(), "LOOPML_HOME": str(workspace / ".loopml")}
    return run_worker(LOOPML_PYTHON, worker, request, cwd=workspace, env=env) | {"workspace": str(workspace)}


# -- running a command as a whole process, timed from outside


@dataclass
class Measured:
    wall_s: float
    user_s: float  # CPU time of the process and of the children it waited for (Prefect's server, say)
    sys_s: float
    exit_code: int
    stdout: str = field(repr=False)
    stderr: str = field(repr=False)


def run_timed(cmd: Sequence[str], cwd: Path, env: Mapping[str, str], timeout_s: float = 600) -> Measured:
    """Run ``cmd`` and wait for it: its wall time and CPU times. Output goes to files, not pipes."""
    out_path, err_path = cwd / ".bench-stdout", cwd / ".bench-stderr"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with out_path.open("wb") as out, err_path.open("wb") as err:
        start = time.perf_counter()
        proc = subprocess.run(
            list(cmd), cwd=cwd, env=dict(env), stdout=out, stderr=err, timeout=timeout_s, check=False
        )
        wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    measured = Measured(
        wall_s=wall,
        user_s=after.ru_utime - before.ru_utime,
        sys_s=after.ru_stime - before.ru_stime,
        exit_code=proc.returncode,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )
    out_path.unlink()
    err_path.unlink()
    return measured


def _tail(m: Measured, lines: int = 30) -> str:
    return "\n".join((m.stderr + m.stdout).splitlines()[-lines:])


def _base_env() -> dict[str, str]:
    """This environment minus anything that would point a tool elsewhere or change how Python starts.

    ``PYTHONDONTWRITEBYTECODE`` goes too: a user's Python caches the bytecode of the modules it imports.
    """
    drop = ("LOOPML_", "PREFECT_", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def run_checked(cmd: Sequence[str], cwd: Path, env: Mapping[str, str]) -> str:
    """An untimed helper command; its stdout, or an error with its output."""
    proc = subprocess.run(list(cmd), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-25:])
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}) in {cwd}:\n{tail}")
    return proc.stdout


# -- the tools of the side-by-side


class Tool(Protocol):
    @property
    def name(self) -> str:
        """A key: ``loopml`` or ``prefect``."""

    @property
    def label(self) -> str:
        """How tables name the tool."""

    def version(self) -> str: ...

    def prepare(self, workspace: Path) -> None:
        """Untimed: write the pipeline's module into a fresh workspace."""

    def command(self, mode: str) -> list[str]:
        """The command a user types for a cold, cached or uncached run."""

    def env(self, workspace: Path, mode: str) -> dict[str, str]: ...

    def verify(self, workspace: Path, mode: str, result: Measured) -> tuple[str, float]:
        """Untimed: raise unless the run did what ``mode`` says (every step run, or every step cached).

        Return what was found, and how long the pipeline run itself took inside the process, as the tool
        tells it (the rest of the process is starting up and shutting down).
        """


@dataclass(frozen=True)
class Loopml:
    name: str = "loopml"
    label: str = "loopml"
    module: str = "lm_chain"

    def version(self) -> str:
        """The package version and the commit measured: loopml changes faster than its version number."""
        version = importlib.metadata.version("loopml")
        git = ["git", "-C", str(REPO_DIR)]
        try:  # read-only git queries; a copy without git just gets the version
            commit = run_checked([*git, "rev-parse", "--short", "HEAD"], REPO_DIR, _base_env()).strip()
            dirty = run_checked([*git, "status", "--porcelain", "--", "src"], REPO_DIR, _base_env()).strip()
        except (OSError, RuntimeError):
            return version
        return f"{version} (commit {commit}{', with uncommitted changes in src/' if dirty else ''})"

    def prepare(self, workspace: Path) -> None:
        (workspace / f"{self.module}.py").write_text(LOOPML_CHAIN)

    def command(self, mode: str) -> list[str]:
        cmd = [str(LOOPML_CLI), "pipeline", "run", f"{self.module}:chain", "--param", f"n={CHAIN_LENGTH}"]
        return cmd + (["--no-cache"] if mode == "uncached" else [])

    def env(self, workspace: Path, mode: str) -> dict[str, str]:
        return _base_env()  # the home is ./.loopml, in the workspace, as for a user

    def verify(self, workspace: Path, mode: str, result: Measured) -> tuple[str, float]:
        said = LOOPML_SUMMARY.search(result.stdout)
        if said is None:
            raise RuntimeError(f"loopml {mode} run: no summary line in its output:\n{_tail(result)}")
        run = stored_loopml_run(workspace, said["run_id"])
        steps = run["steps"]
        cached = sum(1 for s in steps if s["cached"])
        if (int(said["steps"]), int(said["cached"])) != (len(steps), cached):
            raise RuntimeError(f"loopml {mode} run: it said {said[0]!r}, but its stored run differs: {steps}")
        if run["status"] != "FINISHED" or len(steps) != CHAIN_LENGTH:
            raise RuntimeError(
                f"loopml {mode} run: {run['status']} with {len(steps)} steps:\n{_tail(result)}"
            )
        want = CHAIN_LENGTH if mode == "cached" else 0
        if cached != want:
            raise RuntimeError(f"loopml {mode} run: {cached} of {len(steps)} steps cached, expected {want}")
        final = expected_calls(CHAIN_LENGTH)[-1][2]
        if not math.isclose(run["last"], final, rel_tol=1e-9):
            raise RuntimeError(
                f"loopml {mode} run: last output's checksum {run['last']!r}, expected {final!r}"
            )
        return f"run {run['id'][:12]}: {cached}/{len(steps)} steps cached", float(run["duration_s"])


# Asks loopml, untimed, what a pipeline run of the workspace reports (reads ./.loopml), and checksums the last
# step's stored output, read back from the blob store.
LOOPML_LAST_RUN = """
import json
import sys

import numpy as np

from loopml.pipelines import get_pipeline_run

run = get_pipeline_run(sys.argv[1])
last = np.abs(run.output(sys.argv[2])).sum()
print(json.dumps({"id": run.id, "status": run.status, "last": float(last), "duration_s": run.duration_s,
                  "steps": [{"name": s.name, "cached": s.cached} for s in run.steps]}))
"""


def stored_loopml_run(workspace: Path, run_id: str) -> dict[str, Any]:
    last_step = f"transform_{CHAIN_LENGTH - 1}"  # nodes are named after the step, numbered from the second
    cmd = [str(LOOPML_PYTHON), "-c", LOOPML_LAST_RUN, run_id, last_step]
    out = run_checked(cmd, workspace, _base_env())
    run: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return run


LOOPML_SUMMARY = re.compile(r"(?P<steps>\d+) steps, (?P<cached>\d+) from cache\. Run (?P<run_id>\w+)")
PREFECT_TASK_STATE = re.compile(r"Task run '[^']+' - Finished in state (\w+)\(")
PREFECT_RESULT = re.compile(r"^result (\S+)$", re.MULTILINE)
# the flow run's own log lines (stamped HH:MM:SS.mmm): "Beginning flow run", its "Finished in state"
PREFECT_FLOW_START = re.compile(
    r"^(\d\d):(\d\d):(\d\d\.\d+) .*Flow run '[^']+' - Beginning flow run", re.MULTILINE
)
PREFECT_FLOW_END = re.compile(
    r"^(\d\d):(\d\d):(\d\d\.\d+) .*Flow run '[^']+' - Finished in state", re.MULTILINE
)


def _clock_s(match: re.Match[str] | None) -> float:
    if match is None:
        raise RuntimeError("Prefect's log has no flow-run start or end line")
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class Prefect:
    python: Path
    name: str = "prefect"
    label: str = "Prefect"
    script: str = "prefect_chain.py"

    def version(self) -> str:
        code = "import importlib.metadata as m; print(m.version('prefect'))"
        return run_checked([str(self.python), "-c", code], REPO_DIR, _base_env()).strip()

    def prepare(self, workspace: Path) -> None:
        (workspace / self.script).write_text(PREFECT_CHAIN)

    def command(self, mode: str) -> list[str]:
        return [str(self.python), self.script, str(CHAIN_LENGTH)]

    def env(self, workspace: Path, mode: str) -> dict[str, str]:
        env = {
            **_base_env(),
            # Prefect's database, settings and result storage: in the workspace, never in the user's home
            "PREFECT_HOME": str(workspace / ".prefect"),
            # its server would send usage telemetry; this machine has no network, and the failing lookup
            # would be timed (a user with a network sends it in the background)
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        if mode == "uncached":  # Prefect's way to run every task again on an existing cache
            env["PREFECT_TASKS_REFRESH_CACHE"] = "true"
        return env

    def verify(self, workspace: Path, mode: str, result: Measured) -> tuple[str, float]:
        text = result.stdout + result.stderr
        states = PREFECT_TASK_STATE.findall(text)
        want = "Cached" if mode == "cached" else "Completed"
        if states != [want] * CHAIN_LENGTH:
            raise RuntimeError(f"Prefect {mode} run: task states {states}, expected {want} x {CHAIN_LENGTH}")
        found = PREFECT_RESULT.findall(result.stdout)
        final = expected_calls(CHAIN_LENGTH)[-1][2]
        if len(found) != 1 or not math.isclose(float(found[0]), final, rel_tol=1e-9):
            raise RuntimeError(f"Prefect {mode} run: result {found}, expected {final!r}")
        flow_s = (_clock_s(PREFECT_FLOW_END.search(text)) - _clock_s(PREFECT_FLOW_START.search(text))) % 86400
        return f"{len(states)} task runs {want}", flow_s


# -- the side-by-side


@dataclass
class SideBySide:
    """One tool's runs: per mode, one Measured per repeat (each repeat in its own fresh workspace)."""

    runs: dict[str, list[Measured]] = field(default_factory=lambda: {mode: [] for mode in MODES})
    inner: dict[str, list[float]] = field(default_factory=lambda: {mode: [] for mode in MODES})
    checked: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def strip(m: Measured) -> dict[str, Any]:
            return {k: v for k, v in asdict(m).items() if k not in ("stdout", "stderr")}

        return {
            "runs": {mode: [strip(m) for m in ms] for mode, ms in self.runs.items()},
            "inner_s": self.inner,
            "checked": self.checked,
        }


def one_repeat(tool: Tool, session: Path, into: SideBySide, keep: bool) -> None:
    """Cold, cached, then uncached runs in one fresh workspace, each checked (calls.log and the tool)."""
    workspace = fresh_dir(session, f"{tool.name}-chain-")
    tool.prepare(workspace)
    want = expected_calls(CHAIN_LENGTH)
    for mode in MODES:
        before = read_calls(workspace)
        result = run_timed(tool.command(mode), workspace, tool.env(workspace, mode))
        if result.exit_code != 0:
            raise RuntimeError(
                f"{tool.label} {mode}: {' '.join(tool.command(mode))} failed (exit {result.exit_code}) in "
                f"{workspace}:\n{_tail(result)}"
            )
        ran = read_calls(workspace)[len(before) :]
        if mode == "cached" and ran:
            raise RuntimeError(f"{tool.label} cached run ran {len(ran)} step bodies: {ran}")
        if mode != "cached" and not same_calls(ran, want):
            raise RuntimeError(f"{tool.label} {mode} run: step bodies {ran}, expected {want}")
        note, inner_s = tool.verify(workspace, mode, result)
        into.runs[mode].append(result)
        into.inner[mode].append(inner_s)
        into.checked.append(f"{mode}: {note}")
        print(
            f"  {tool.label:<8} {mode:<9} {fmt_duration(result.wall_s):>10}  "
            f"(user {result.user_s:,.2f} s, sys {result.sys_s:,.2f} s; "
            f"the run inside {fmt_duration(inner_s)})  {note}"
        )
    if not keep:
        shutil.rmtree(workspace, ignore_errors=True)


def run_side_by_side(tools: Sequence[Tool], session: Path, repeats: int, keep: bool) -> dict[str, SideBySide]:
    """The tools take turns, repeat by repeat, so a change in the machine's load weighs on both."""
    results = {tool.name: SideBySide() for tool in tools}
    for r in range(repeats):
        print(f" repeat {r + 1} of {repeats}")
        for tool in tools:
            one_repeat(tool, session, results[tool.name], keep)
    return results


# -- the report


@dataclass(frozen=True)
class Row:
    label: str
    loopml_s: float
    prefect_s: float | None = None
    goal: str = "—"
    met: bool | None = None

    def cells(self) -> list[str]:
        other = "—" if self.prefect_s is None else fmt_duration(self.prefect_s)
        times = "—" if self.prefect_s is None else fmt_ratio(ratio(self.prefect_s, self.loopml_s))
        met = "—" if self.met is None else ("yes" if self.met else "NO")
        return [self.label, fmt_duration(self.loopml_s), other, times, self.goal, met]


TABLE_HEADER = ("Workload", "loopml", "Prefect", "Prefect / loopml", "Goal", "Met")


def build_rows(
    sizes: Sizes, chain: Mapping[str, Any], fan: Mapping[str, Any], side: Mapping[str, SideBySide]
) -> list[Row]:
    per_step = median(chain["cached_s"]) / sizes.chain_steps
    fan_steps = sizes.fanout + 2
    rows = [
        Row(
            f"cached step overhead: chain of {sizes.chain_steps:,} no-op steps rerun fully cached in "
            f"the same process, median of {sizes.reruns} reruns ÷ {sizes.chain_steps:,} steps",
            per_step,
            goal=f"< {fmt_duration(STEP_OVERHEAD_GOAL_S)}",
            met=per_step < STEP_OVERHEAD_GOAL_S,
        ),
        Row(
            f"fan-out of {sizes.fanout:,} no-op steps ({fan_steps:,} steps), planned and run cold, "
            "local executor",
            fan["cold_s"],
            goal=f"< {fmt_duration(FANOUT_GOAL_S)}",
            met=fan["cold_s"] < FANOUT_GOAL_S,
        ),
        Row(
            f"fan-out of {sizes.fanout:,} no-op steps, rerun fully cached (median of {sizes.reruns})",
            median(fan["cached_s"]),
        ),
    ]
    what = f"{CHAIN_LENGTH}-step pipeline, whole process"
    labels = {
        "cold": f"{what}, cold: fresh home (median of {sizes.repeats})",
        "cached": f"{what}, fully cached (median of {sizes.repeats})",
        "uncached": f"{what}, cache off on an existing home (median of {sizes.repeats}; not a goal)",
    }
    for mode in MODES:
        lm_s = median([m.wall_s for m in side["loopml"].runs[mode]])
        pf_s = median([m.wall_s for m in side["prefect"].runs[mode]])
        goal = mode in ("cold", "cached")
        rows.append(
            Row(
                labels[mode],
                lm_s,
                pf_s,
                goal=f"≥ ×{SIDE_BY_SIDE_GOAL:g}" if goal else "—",
                met=ratio(pf_s, lm_s) >= SIDE_BY_SIDE_GOAL if goal else None,
            )
        )
    return rows


def run_notes(
    sizes: Sizes, chain: Mapping[str, Any], fan: Mapping[str, Any], side: Mapping[str, SideBySide]
) -> list[str]:
    def times(values: Sequence[float]) -> str:
        return ", ".join(fmt_duration(v) for v in values)

    def procs(ms: Sequence[Measured]) -> str:
        return ", ".join(
            f"{fmt_duration(m.wall_s)} (user {m.user_s:,.2f} s, sys {m.sys_s:,.2f} s)" for m in ms
        )

    notes = [
        f"Chain of {sizes.chain_steps:,} no-op steps, in one process: cold run "
        f"{fmt_duration(chain['cold_s'])}; cached reruns {times(chain['cached_s'])}.",
        f"Fan-out of {sizes.fanout:,}, in one process: cold {fmt_duration(fan['cold_s'])}, of which the step "
        f"runs as loopml times them (inputs loaded, function called, output stored) add up to "
        f"{fmt_duration(fan['cold']['step_s'])}; cached reruns "
        f"{times(fan['cached_s'])}; the gather step returned {fan['gather']:,}, as expected.",
    ]

    def inner(name: str) -> str:
        return ", ".join(f"{mode} {fmt_duration(median(side[name].inner[mode]))}" for mode in MODES)

    notes.append(
        "Inside each whole process, the pipeline run itself (medians): loopml "
        f"{inner('loopml')} (the run's duration as loopml records it); Prefect {inner('prefect')} (from its "
        "log line 'Beginning flow run' to the flow's 'Finished in state'). The rest of each process is "
        "starting and stopping: the interpreter and imports, opening (on a fresh home, creating) the "
        "database, and for Prefect starting and stopping its temporary server."
    )
    for name, label in (("loopml", "loopml"), ("prefect", "Prefect")):
        for mode in MODES:
            notes.append(f"{CHAIN_LENGTH}-step pipeline, {label}, {mode}: {procs(side[name].runs[mode])}")
    return notes


METHOD_NOTES = [
    "Side by side: each command is a whole process started as a user starts it, timed by wall clock from the "
    "outside (user and sys are CPU seconds of the process and the children it waited for). loopml: "
    "`loopml pipeline run lm_chain:chain --param n=10` (`--no-cache` for the uncached row) in a workspace "
    "holding `lm_chain.py`, home `./.loopml`. Prefect: `python prefect_chain.py` in a workspace holding it, "
    "`PREFECT_HOME` in the workspace (its SQLite database and result storage), tasks with "
    "`cache_policy=INPUTS + TASK_SOURCE, persist_result=True`, its temporary local server started by the "
    "flow run as for a user with no server running, server telemetry off (this machine has no network), "
    "`PREFECT_TASKS_REFRESH_CACHE=true` for the uncached row. Ratio = Prefect's time / loopml's.",
    "Checks (untimed): every step body appends its name and a checksum of its output to `calls.log`, so a "
    "cold or uncached run must add exactly the 10 lines the bench computes itself and a cached run none; "
    "loopml must list the run FINISHED with every step cached (or none), Prefect must log every task run "
    "`Cached` (or `Completed`) and print the right result.",
]


def results_section(
    command: str,
    quick: bool,
    versions: Mapping[str, str],
    load: str,
    rows: Sequence[Row],
    notes: Sequence[str],
) -> str:
    m = machine_info()
    smoke = " (smoke run: smaller sizes; not the reference figures)" if quick else ""
    lines = [
        f"- Date: {utc_now()}",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM; Python {m['python']}; {m['os']}; {load}",
        f"- Versions: loopml {versions['loopml']}, project `.venv`; Prefect {versions['prefect']} "
        f"(`{' '.join(PREFECT_REQUIREMENTS)}` in `bench/.venvs/prefect`)",
        f"- Command: `{command}`{smoke}",
        "",
        markdown_table(TABLE_HEADER, [row.cells() for row in rows]),
        "",
        *(f"- {note}" for note in notes),
    ]
    return "\n".join(lines)


def startup_floor(prefect_python: Path, session: Path, repeats: int = 3) -> dict[str, float]:
    """What any command costs before it does work: ``loopml --version``, and ``import prefect``."""
    commands = {
        "loopml": [str(LOOPML_CLI), "--version"],
        "prefect": [str(prefect_python), "-c", "import prefect"],
    }
    env = {**_base_env(), "PREFECT_HOME": str(session / ".prefect-floor")}
    return {
        name: median([run_timed(cmd, session, env).wall_s for _ in range(repeats)])
        for name, cmd in commands.items()
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smaller chain and fan-out, 2 repeats: a smoke run"
    )
    parser.add_argument("--keep", action="store_true", help="keep the workspaces under bench/.work/")
    parser.add_argument("--no-write", action="store_true", help="print the table but leave RESULTS.md alone")
    parser.add_argument("--repeats", type=int, default=None, help="side-by-side repeats per tool (default 5)")
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 5)
    if repeats < 1:
        parser.error("--repeats must be at least 1")
    sizes = Sizes.quick(repeats) if args.quick else Sizes.full(repeats)

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    compile_loopml()
    prefect_python = ensure_venv("prefect", PREFECT_REQUIREMENTS)
    tools: list[Tool] = [Loopml(), Prefect(prefect_python)]
    versions = {tool.name: tool.version() for tool in tools}
    session = fresh_dir(WORK_DIR, "pipelines-")
    print(f"modules, workspaces and raw results in {session.relative_to(REPO_DIR)}")
    load_before = load_average()
    floors = startup_floor(prefect_python, session)

    worker = session / "lm_worker.py"
    worker.write_text(LOOPML_WORKER)
    print(f"loopml: chain of {sizes.chain_steps} no-op steps, cold then {sizes.reruns} cached reruns")
    chain = run_in_process(
        session, worker, {"workload": "chain", "steps": sizes.chain_steps, "reruns": sizes.reruns}
    )
    check_in_process("chain", chain, sizes.chain_steps)
    print(
        f"  cached rerun {fmt_duration(median(chain['cached_s']))}: "
        f"{fmt_duration(median(chain['cached_s']) / sizes.chain_steps)} per step"
    )
    print(f"loopml: fan-out of {sizes.fanout} no-op steps, cold then {sizes.reruns} cached reruns")
    fan = run_in_process(
        session, worker, {"workload": "fan-out", "width": sizes.fanout, "reruns": sizes.reruns}
    )
    check_in_process("fan-out", fan, sizes.fanout + 2)
    fan["gather"] = int((Path(fan["workspace"]) / "gather.out").read_text())
    expected_sum = 7 * sizes.fanout + sizes.fanout * (sizes.fanout - 1) // 2
    if fan["gather"] != expected_sum:
        raise RuntimeError(f"fan-out: gather returned {fan['gather']}, expected {expected_sum}")
    print(f"  cold {fmt_duration(fan['cold_s'])}, cached {fmt_duration(median(fan['cached_s']))}")
    if not args.keep:
        for result in (chain, fan):
            shutil.rmtree(result["workspace"], ignore_errors=True)

    print(f"side by side: {CHAIN_LENGTH}-step pipeline, {sizes.repeats} fresh workspaces per tool")
    side = run_side_by_side(tools, session, sizes.repeats, args.keep)
    load = f"load average {load_before} at the start, {load_average()} at the end (a shared machine)"
    raw = {
        "sizes": asdict(sizes),
        "startup_floor_s": floors,
        "chain": chain,
        "fan_out": fan,
        "side_by_side": {k: v.to_json() for k, v in side.items()},
    }
    (session / "results.json").write_text(json.dumps(raw, indent=1))

    rows = build_rows(sizes, chain, fan, side)
    notes = [
        *METHOD_NOTES,
        f"Startup floor, median of 3: `loopml --version` {fmt_duration(floors['loopml'])}; "
        f"`python -c 'import prefect'` {fmt_duration(floors['prefect'])}. Every whole-process run pays it.",
        *run_notes(sizes, chain, fan, side),
    ]
    notes += changed_during_run(versions["loopml"], tools[0].version())
    print_report(TABLE_HEADER, [row.cells() for row in rows], notes)
    if not args.no_write:
        command = " ".join(
            [".venv/bin/python bench/pipelines.py", *(argv if argv is not None else sys.argv[1:])]
        )
        write_results_section(
            RESULTS_HEADING, results_section(command, args.quick, versions, load, rows, notes)
        )
        print(f"wrote {RESULTS_FILE.relative_to(REPO_DIR)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
