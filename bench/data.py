"""loopml's dataset versioning side by side with ``dvc add``.

    .venv/bin/python bench/data.py [--quick] [--keep] [--no-write] [--first-adds N] [--re-adds N]

The data is generated once per run under ``bench/.work/data-*/source`` with a fixed seed: one Parquet file
of about 1 GB (10 million rows x 20 columns, zstd, row groups of 1M rows) and a folder of 10,000 small
Parquet files of the same schema (``--quick``: 1M rows, about 100 MB, and 1,000 files).

Each tool adds each of the two in its own fresh workspace, a folder under the run's folder into which the
data is copied beforehand (untimed, so both tools read the same bytes from the same disk): DVC in a new
``git init`` + ``dvc init`` repository (DVC lives in ``bench/.venvs/dvc``, never in the project's venv),
loopml with a fresh ``LOOPML_HOME``. Every command runs as a user runs it, as a whole process
(``dvc add PATH``, ``loopml data add NAME PATH``), timed from the outside (wall clock), its peak RSS and
CPU times taken by ``/usr/bin/time -v``. The first add runs once in each of ``--first-adds`` fresh
workspaces; then, in the first of them, the same command runs again on the unchanged data (``--re-adds``
times); medians count. Each result is checked untimed: DVC must have written its ``.dvc`` file; loopml
must list exactly version 1 after the first add and after every re-add (unchanged content keeps its
version).

The table gives DVC's time over loopml's and checks the goals; ``bench/RESULTS.md`` gets the same.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

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
    machine_info,
    markdown_table,
    median,
    print_report,
    ratio,
    utc_now,
    write_results_section,
)

# Pinned so figures stay comparable over time (the newest release on PyPI when this bench was written).
# Bump on purpose, and say so in RESULTS.md.
DVC_REQUIREMENT = "dvc==3.67.1"
RESULTS_HEADING = "## Data versioning (bench/data.py)"
LOOPML_CLI = REPO_DIR / ".venv" / "bin" / "loopml"
SEED = 20_241_122
COMPRESSION = "zstd"
# DVC's time over loopml's that each case must reach (from the issue).
GOALS = {
    ("file", "first"): 2.0,
    ("file", "re-add"): 20.0,
    ("folder", "first"): 5.0,
    ("folder", "re-add"): 20.0,
}
PROFILE_MEMORY_GOAL = 10**9  # bytes: "profiling 10 million rows x 20 columns keeps peak memory under 1 GB"
TIME_BIN = Path("/usr/bin/time")
# loopml trusts a cached digest only for a file last written over 1 s before it was hashed (a same-size
# rewrite within one timestamp tick would look unchanged). Data is rarely added the second it was written, so
# the copied data ages this long before the first add, for both tools, as a user's data would have.
DATA_AGE_S = 2.0
FILE_NAME = "big.parquet"
FOLDER_NAME = "small"
CASES = ("file", "folder")


@dataclass(frozen=True)
class Sizes:
    big_rows: int
    row_group: int
    small_files: int
    small_rows: int  # rows in each small file

    @classmethod
    def full(cls) -> Sizes:
        return cls(big_rows=10_000_000, row_group=1_000_000, small_files=10_000, small_rows=300)

    @classmethod
    def quick(cls) -> Sizes:
        return cls(big_rows=1_000_000, row_group=250_000, small_files=1_000, small_rows=300)


# -- the data: 16 numeric columns (float64, int64) and 4 string columns, 3 of them low-cardinality


COUNTRIES = [f"C{i:02d}" for i in range(40)]
STATUSES = ["ok", "retry", "failed"]
STATUS_WEIGHTS = [0.9, 0.07, 0.03]
SEGMENTS = ["a", "b", "c", "d", "e"]
USERS = 200_000  # distinct values of the one high-cardinality string column


def _categorical(names: Sequence[str], codes: np.ndarray[Any, Any]) -> pa.Array:
    """Plain strings (not a dictionary type) built in Arrow from codes: fast, and no Python objects."""
    indices = pa.array(codes.astype(np.int32))
    return pa.DictionaryArray.from_arrays(indices, pa.array(names)).dictionary_decode()


class RowMaker:
    """Makes the rows of both data sets from one seeded generator: same schema, reproducible content."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.users = pa.array([f"user-{i:07d}" for i in range(USERS)])
        self.next_id = 0

    def table(self, n: int) -> pa.Table:
        rng = self.rng
        columns: dict[str, Any] = {f"f{i}": rng.standard_normal(n) for i in range(11)}
        columns["id"] = np.arange(self.next_id, self.next_id + n, dtype=np.int64)
        columns["ts_ms"] = 1_700_000_000_000 + self.next_id + np.sort(rng.integers(0, 86_400_000, n))
        columns.update({f"i{i}": rng.integers(0, 1_000_000_000, n) for i in range(3)})
        columns["country"] = _categorical(COUNTRIES, rng.integers(0, len(COUNTRIES), n))
        columns["status"] = _categorical(STATUSES, rng.choice(len(STATUSES), n, p=STATUS_WEIGHTS))
        columns["segment"] = _categorical(SEGMENTS, rng.integers(0, len(SEGMENTS), n))
        columns["user"] = self.users.take(pa.array(rng.integers(0, USERS, n)))
        self.next_id += n
        return pa.table(columns)


def write_big_file(path: Path, sizes: Sizes, maker: RowMaker) -> None:
    """One row group at a time through a ParquetWriter: the generating process peaks near 500 MB."""
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, sizes.big_rows, sizes.row_group):
            table = maker.table(min(sizes.row_group, sizes.big_rows - start))
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema, compression=COMPRESSION)
            writer.write_table(table, row_group_size=sizes.row_group)
    finally:
        if writer is not None:
            writer.close()


def write_small_files(folder: Path, sizes: Sizes, maker: RowMaker, per_chunk: int = 100) -> None:
    """``small_files`` files of ``small_rows`` rows each, made ``per_chunk`` files' worth at a time."""
    folder.mkdir(parents=True)
    for first in range(0, sizes.small_files, per_chunk):
        count = min(per_chunk, sizes.small_files - first)
        table = maker.table(count * sizes.small_rows)
        for k in range(count):
            part = table.slice(k * sizes.small_rows, sizes.small_rows)
            pq.write_table(part, folder / f"part-{first + k:05d}.parquet", compression=COMPRESSION)


def generate(source: Path, sizes: Sizes) -> dict[str, int]:
    """Write both data sets under ``source``; return their sizes in bytes."""
    source.mkdir(parents=True)
    maker = RowMaker(SEED)
    write_big_file(source / FILE_NAME, sizes, maker)
    write_small_files(source / FOLDER_NAME, sizes, maker)
    return {
        "file": (source / FILE_NAME).stat().st_size,
        "folder": sum(p.stat().st_size for p in (source / FOLDER_NAME).iterdir()),
    }


def copy_into(source: Path, case: str, workspace: Path) -> str:
    """Copy the case's data into ``workspace``; return its path relative to the workspace."""
    name = FILE_NAME if case == "file" else FOLDER_NAME
    if case == "file":
        shutil.copyfile(source / name, workspace / name)
    else:
        shutil.copytree(source / name, workspace / name)
    return name


# -- running a command as a whole process, timed from outside


@dataclass(frozen=True)
class Measured:
    wall_s: float
    user_s: float
    sys_s: float
    max_rss: int  # bytes: the largest resident set of the process (and any child it waited for)
    exit_code: int
    stdout: str
    stderr: str


def run_measured(cmd: Sequence[str], cwd: Path, env: Mapping[str, str]) -> Measured:
    """Run ``cmd`` under ``/usr/bin/time -v``; its wall time (taken here), CPU times and peak RSS.

    Why through GNU time rather than ``os.wait4`` from here: Linux carries a process's RSS high-water mark
    across fork and exec, so a child forked from this process (hundreds of MB once the data is generated)
    would report at least this process's RSS. GNU time is tiny, so its child's figure is the tool's own.
    Output goes to files, not pipes, so nothing but the wait stands between start and end.
    """
    if not TIME_BIN.exists():
        raise RuntimeError(f"{TIME_BIN} is missing; install GNU time (apt-get install time)")
    with tempfile.TemporaryDirectory(dir=WORK_DIR, prefix="cmd-") as tmp:
        report, out_path, err_path = (Path(tmp) / name for name in ("time", "stdout", "stderr"))
        with out_path.open("wb") as out, err_path.open("wb") as err:
            start = time.perf_counter()
            cmd_under_time = [str(TIME_BIN), "-v", "-o", str(report), *cmd]
            # the exit status is the command's; it is read from the report, like every other figure
            subprocess.run(cmd_under_time, cwd=cwd, env=dict(env), stdout=out, stderr=err, check=False)
            wall = time.perf_counter() - start
        usage = _time_report(report.read_text())
        return Measured(
            wall_s=wall,
            user_s=float(usage["User time (seconds)"]),
            sys_s=float(usage["System time (seconds)"]),
            max_rss=int(usage["Maximum resident set size (kbytes)"]) * 1024,
            exit_code=int(usage.get("Exit status", "-1")),
            stdout=out_path.read_text(errors="replace"),
            stderr=err_path.read_text(errors="replace"),
        )


def _time_report(text: str) -> dict[str, str]:
    """The ``<tab>Name: value`` lines of ``/usr/bin/time -v`` as a dict (split on the last ": ")."""
    found = {}
    for line in text.splitlines():
        if line.startswith("\t") and ": " in line:
            key, _, value = line.strip().rpartition(": ")
            found[key] = value
    return found


def run_checked(cmd: Sequence[str], cwd: Path, env: Mapping[str, str]) -> str:
    """Run an untimed setup or verification command; its stdout, or an error with its output."""
    proc = subprocess.run(list(cmd), cwd=cwd, env=dict(env), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed (exit {proc.returncode}) in {cwd}:\n{_tail(proc)}")
    return proc.stdout


def _tail(proc: subprocess.CompletedProcess[str] | Measured, lines: int = 25) -> str:
    return "\n".join((proc.stderr or proc.stdout).splitlines()[-lines:])


def settle() -> None:
    """Write back dirty pages before a timed command, so no tool pays for the previous one's writes."""
    os.sync()


# -- the tools


class Tool(Protocol):
    @property
    def name(self) -> str:
        """A key: ``loopml`` or ``dvc``."""

    @property
    def label(self) -> str:
        """How tables name the tool."""

    @property
    def cli(self) -> str:
        """The tool's command, as a user runs it."""

    def version(self) -> str: ...

    def prepare(self, workspace: Path) -> None:
        """Untimed: make ``workspace`` ready for a first add."""

    def add_command(self, case: str, rel: str) -> list[str]: ...

    def env(self, workspace: Path) -> dict[str, str]: ...

    def verify(self, workspace: Path, case: str, rel: str, result: Measured) -> str:
        """Untimed: raise unless the add really happened; return what it stored (a version, a hash)."""


def _base_env() -> dict[str, str]:
    """This environment minus anything that would point a tool elsewhere."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "DVC_"))}


@dataclass(frozen=True)
class Loopml:
    name: str = "loopml"
    label: str = "loopml"

    @property
    def cli(self) -> str:
        return str(LOOPML_CLI)

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
        pass  # LOOPML_HOME is created by the first command, as it is for a user

    def add_command(self, case: str, rel: str) -> list[str]:
        return [self.cli, "data", "add", case, rel, "--json"]

    def env(self, workspace: Path) -> dict[str, str]:
        return {**_base_env(), "LOOPML_HOME": str(workspace / ".loopml")}

    def verify(self, workspace: Path, case: str, rel: str, result: Measured) -> str:
        shown = run_checked([self.cli, "data", "show", case, "--json"], workspace, self.env(workspace))
        versions = [v["version"] for v in json.loads(shown)]
        if versions != [1]:
            raise RuntimeError(f"loopml data show {case}: versions {versions}, expected exactly [1]")
        added = json.loads(result.stdout)
        return f"{added['ref']} ({added['num_rows']:,} rows, digest {added['digest'][:12]})"


@dataclass(frozen=True)
class Dvc:
    python: Path
    name: str = "dvc"
    label: str = "DVC"

    @property
    def cli(self) -> str:
        return str(self.python.parent / "dvc")

    def version(self) -> str:
        return run_checked([self.cli, "--version"], REPO_DIR, _base_env()).strip()

    def prepare(self, workspace: Path) -> None:
        env = self.env(workspace)
        run_checked(["git", "init", "-q"], workspace, env)
        run_checked([self.cli, "init", "-q"], workspace, env)
        # no update checks or telemetry: there is no network here, and no stray daemon should run
        for key in ("core.analytics", "core.check_update"):
            run_checked([self.cli, "config", "--local", key, "false"], workspace, env)

    def add_command(self, case: str, rel: str) -> list[str]:
        return [self.cli, "add", rel]

    def env(self, workspace: Path) -> dict[str, str]:
        # DVC's state database (its cache of file hashes) goes in the workspace, not /var/tmp/dvc
        return {
            **_base_env(),
            "DVC_NO_ANALYTICS": "1",
            "DVC_SITE_CACHE_DIR": str(workspace / ".dvc-site-cache"),
        }

    def verify(self, workspace: Path, case: str, rel: str, result: Measured) -> str:
        dvc_file = workspace / f"{rel}.dvc"
        if not dvc_file.is_file():
            raise RuntimeError(f"dvc add {rel}: no {dvc_file.name} was written")
        text = dvc_file.read_text()
        md5 = next((line.split(":", 1)[1].strip() for line in text.splitlines() if "md5:" in line), "")
        if not md5:
            raise RuntimeError(f"{dvc_file.name} holds no md5:\n{text}")
        return f"{dvc_file.name} (md5 {md5[:12]})"


# -- the workloads


@dataclass
class CaseResult:
    """One tool on one case: its first adds (one per fresh workspace) and its re-adds (in the first one)."""

    first: list[Measured] = field(default_factory=list)
    re_add: list[Measured] = field(default_factory=list)
    stored: str = ""

    def to_json(self) -> dict[str, Any]:
        def strip(m: Measured) -> dict[str, Any]:
            return {k: v for k, v in asdict(m).items() if k not in ("stdout", "stderr")}

        return {
            "first": [strip(m) for m in self.first],
            "re_add": [strip(m) for m in self.re_add],
            "stored": self.stored,
        }


def timed_add(tool: Tool, workspace: Path, case: str, rel: str) -> Measured:
    settle()
    result = run_measured(tool.add_command(case, rel), workspace, tool.env(workspace))
    if result.exit_code != 0:
        raise RuntimeError(
            f"{tool.label}: {' '.join(tool.add_command(case, rel))} failed (exit {result.exit_code}) "
            f"in {workspace}:\n{_tail(result)}"
        )
    return result


def run_case(
    tool: Tool, case: str, source: Path, session: Path, first_adds: int, re_adds: int, keep: bool
) -> CaseResult:
    """``first_adds`` first adds, each in a fresh workspace; ``re_adds`` re-adds in the first of them."""
    result = CaseResult()
    for attempt in range(first_adds):
        workspace = fresh_dir(session, f"{tool.name}-{case}-")
        rel = copy_into(source, case, workspace)
        copied = time.monotonic()
        tool.prepare(workspace)
        time.sleep(max(0.0, copied + DATA_AGE_S - time.monotonic()))
        first = timed_add(tool, workspace, case, rel)
        result.first.append(first)
        result.stored = tool.verify(workspace, case, rel, first)
        print(
            f"  {case:<6} {tool.label:<6} first add  {fmt_duration(first.wall_s):>10}  {_mb(first.max_rss)}"
        )
        if attempt == 0:
            for _ in range(re_adds):
                again = timed_add(tool, workspace, case, rel)
                tool.verify(workspace, case, rel, again)
                result.re_add.append(again)
                print(
                    f"  {case:<6} {tool.label:<6} re-add     {fmt_duration(again.wall_s):>10}  "
                    f"{_mb(again.max_rss)}"
                )
        if not keep:
            shutil.rmtree(workspace, ignore_errors=True)
    return result


def startup_floor(tools: Sequence[Tool], repeats: int) -> dict[str, float]:
    """Median wall time of ``--version``: what any command of each tool costs before it does any work."""
    return {
        tool.name: median(
            [run_measured([tool.cli, "--version"], WORK_DIR, _base_env()).wall_s for _ in range(repeats)]
        )
        for tool in tools
    }


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB"


def _size(n: int) -> str:
    return f"{n / 1e9:,.2f} GB" if n >= 1e9 else _mb(n)


# -- the report


@dataclass(frozen=True)
class Row:
    label: str
    loopml: Sequence[Measured]
    dvc: Sequence[Measured]
    goal: float | None

    @property
    def loopml_s(self) -> float:
        return median([m.wall_s for m in self.loopml])

    @property
    def dvc_s(self) -> float:
        return median([m.wall_s for m in self.dvc])

    @property
    def ratio(self) -> float:
        return ratio(self.dvc_s, self.loopml_s)

    def met(self) -> str:
        if self.goal is None:
            return "—"
        return "yes" if self.ratio >= self.goal else "NO"

    def cells(self) -> list[str]:
        return [
            self.label,
            fmt_duration(self.loopml_s),
            fmt_duration(self.dvc_s),
            fmt_ratio(self.ratio),
            "—" if self.goal is None else f"≥ ×{self.goal:g}",
            self.met(),
            _mb(max(m.max_rss for m in self.loopml)),
            _mb(max(m.max_rss for m in self.dvc)),
        ]


TABLE_HEADER = ("Command", "loopml", "DVC", "DVC / loopml", "Goal", "Met", "loopml peak RSS", "DVC peak RSS")


def build_rows(
    results: Mapping[str, CaseResult], sizes: Sizes, data_bytes: Mapping[str, int], re_adds: int
) -> list[Row]:
    what = {
        "file": f"{_size(data_bytes['file'])} file, {sizes.big_rows:,} rows x 20 cols",
        "folder": f"folder of {sizes.small_files:,} files, {_size(data_bytes['folder'])}",
    }
    rows = []
    for case in CASES:
        lm, dvc = results[f"loopml/{case}"], results[f"dvc/{case}"]
        runs = len(lm.first)
        first = f"first add, {what[case]}" + (f" (median of {runs})" if runs > 1 else "")
        rows.append(Row(first, lm.first, dvc.first, GOALS[(case, "first")]))
        rows.append(
            Row(
                f"re-add unchanged, {what[case]} (median of {re_adds})",
                lm.re_add,
                dvc.re_add,
                GOALS[(case, "re-add")],
            )
        )
    return rows


def cpu_notes(results: Mapping[str, CaseResult]) -> list[str]:
    """Wall, user and system time of every command: where a tool's time goes (CPU, or waiting on disk)."""

    def runs(ms: Sequence[Measured]) -> str:
        return ", ".join(
            f"{fmt_duration(m.wall_s)} (user {m.user_s:,.2f} s, sys {m.sys_s:,.2f} s, {_mb(m.max_rss)})"
            for m in ms
        )

    notes = []
    for case in CASES:
        for tool, label in (("loopml", "loopml"), ("dvc", "DVC")):
            r = results[f"{tool}/{case}"]
            notes.append(
                f"{case}, {label}: first add {runs(r.first)}; re-adds {runs(r.re_add)}; stored {r.stored}"
            )
    return notes


def memory_note(results: Mapping[str, CaseResult], sizes: Sizes) -> str:
    peak = max(m.max_rss for m in results["loopml/file"].first)
    verdict = "met" if peak < PROFILE_MEMORY_GOAL else "NOT met"
    return (
        f"Profile memory goal (issue: profiling 10 million rows x 20 columns from Parquet keeps peak memory "
        f"under 1 GB): loopml builds a version's profile (exact moments, HyperLogLog, KLL and frequent-items "
        f"sketches for every column) in the streaming pass of the add, so the peak RSS of `loopml data add` "
        f"on the {sizes.big_rows:,}-row file, which also copies the file and runs the process, bounds it: "
        f"**{_mb(peak)}**, goal < {_mb(PROFILE_MEMORY_GOAL)}: {verdict}."
    )


METHOD_NOTES = [
    "What `dvc add` does: hashes each file with md5 (reading it whole), copies it into `.dvc/cache` "
    "(a full copy: ext4 has no reflinks), writes the `.dvc` file and a `.gitignore` entry, and records "
    "(inode, mtime, size) -> md5 in its state database. A re-add of unchanged files skips hashing but still "
    "relinks: it deletes the workspace file and copies it back from the cache. It does not fsync.",
    "What `loopml data add` does: reads every record batch of every file (proving each is whole) while it "
    "profiles every column (the schema summary comes from the same pass) and, for a single file, copies it "
    "into its content-addressed store in a second thread while hashing it with blake3; makes the copies "
    "durable (fsync), stores the profile and records the version in SQLite; a folder is one blob per file "
    "plus a manifest, its files read two at a time. A re-add looks each file up in its digest cache (path, "
    "size, mtime, inode, device) and reads nothing when all match.",
    "Method: every command is a whole process started as a user starts it, timed by wall clock from the "
    "outside; peak RSS and CPU times come from `/usr/bin/time -v`. The data is copied into each tool's "
    f"fresh workspace untimed and left {DATA_AGE_S:g} s to age (loopml trusts cached digests only for files "
    "written over 1 s before), and `sync` runs before every timed command, so both tools read the same "
    "bytes, warm in the page cache, with no pending writeback. Ratio = DVC's time / loopml's.",
]


def results_section(
    command: str,
    quick: bool,
    versions: Mapping[str, str],
    rows: Sequence[Row],
    notes: Sequence[str],
) -> str:
    m = machine_info()
    smoke = " (smoke run: 1M rows, 1,000 small files; not the reference figures)" if quick else ""
    lines = [
        f"- Date: {utc_now()}",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM; Python {m['python']}; {m['os']}",
        f"- Versions: loopml {versions['loopml']}, project `.venv`; DVC {versions['dvc']} "
        f"(`{DVC_REQUIREMENT}` in `bench/.venvs/dvc`); pyarrow {pa.__version__} to write the data",
        f"- Command: `{command}`{smoke}",
        "",
        markdown_table(TABLE_HEADER, [row.cells() for row in rows]),
        "",
        *(f"- {note}" for note in notes),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1M rows and 1,000 small files: a smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the data and workspaces under bench/.work/")
    parser.add_argument("--no-write", action="store_true", help="print the table but leave RESULTS.md alone")
    parser.add_argument("--first-adds", type=int, default=3, help="first adds per case and tool (default 3)")
    parser.add_argument("--re-adds", type=int, default=3, help="re-adds per case and tool (default 3)")
    args = parser.parse_args(argv)
    if args.first_adds < 1 or args.re_adds < 1:
        parser.error("--first-adds and --re-adds must be at least 1")
    sizes = Sizes.quick() if args.quick else Sizes.full()

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    compile_loopml()
    tools: list[Tool] = [Loopml(), Dvc(ensure_venv("dvc", [DVC_REQUIREMENT]))]
    versions = {tool.name: tool.version() for tool in tools}
    floors = startup_floor(tools, repeats=5)
    session = fresh_dir(WORK_DIR, "data-")
    print(f"data, workspaces and raw results in {session.relative_to(REPO_DIR)}")
    try:
        started = time.perf_counter()
        data_bytes = generate(session / "source", sizes)
        print(
            f"generated {data_bytes['file'] / 1e6:,.0f} MB file and {sizes.small_files:,} files "
            f"({data_bytes['folder'] / 1e6:,.0f} MB) in {time.perf_counter() - started:,.0f} s"
        )
        results = {
            f"{tool.name}/{case}": run_case(
                tool, case, session / "source", session, args.first_adds, args.re_adds, args.keep
            )
            for case in CASES
            for tool in tools
        }
    finally:
        if not args.keep:
            shutil.rmtree(session / "source", ignore_errors=True)
    raw = {key: r.to_json() for key, r in results.items()}
    (session / "results.json").write_text(json.dumps({"sizes": sizes.__dict__, "results": raw}, indent=1))

    rows = build_rows(results, sizes, data_bytes, args.re_adds)
    memory = memory_note(results, sizes)
    notes = [
        memory,
        f"Startup floor, median of 5 `--version` runs: loopml {fmt_duration(floors['loopml'])}, "
        f"DVC {fmt_duration(floors['dvc'])}; every command above pays it.",
        *METHOD_NOTES,
        *cpu_notes(results),
    ]
    notes += changed_during_run(versions["loopml"], tools[0].version())
    print_report(TABLE_HEADER, [row.cells() for row in rows], notes)
    if not args.no_write:
        command = " ".join([".venv/bin/python bench/data.py", *(argv if argv is not None else sys.argv[1:])])
        write_results_section(RESULTS_HEADING, results_section(command, args.quick, versions, rows, notes))
        print(f"wrote {RESULTS_FILE.relative_to(REPO_DIR)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
