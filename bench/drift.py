"""loopml's ``lm.drift`` side by side with Evidently's ``DataDriftPreset``, on the same data, in one run.

    .venv/bin/python bench/drift.py [--quick] [--keep] [--no-write] [--repeats N] [--only SECTION ...]

The data is generated once per run, with a fixed seed, and written as Parquet under ``bench/.work/drift-*``:
a reference and a current frame of 100,000 rows each (``--quick``: 10,000) with 25 columns, 20 numeric
(14 floats, some skewed, one with nulls; 4 integers with many values; 2 with at most 5) and 5 string
categories (2 to 30 values, one with nulls), and a shift in 9 of them: some far over the threshold, some
close to it on either side. And the same columns at 800 rows against 800, where the defaults are the
p-value tests (KS, chi-squared, z) instead of the distances (Wasserstein, Jensen-Shannon).

Each tool runs in a fresh process of its own environment: loopml in the project's ``.venv``, Evidently in
``bench/.venvs/evidently`` (Evidently 0.7 needs pandas < 3; ``LOOPML_BENCH_VENVS`` points at another
folder of venvs). Each process reads the Parquet files and imports its tool untimed, runs once untimed on
the first 2,000 rows (the tool's lazy imports and caches), then times each repeat, from the frames in
memory until the per-column verdicts are in hand:

- loopml: ``lm.drift(reference, current)``;
- Evidently: ``Report([DataDriftPreset()], include_tests=True).run(Dataset.from_pandas(current,
  data_definition=DataDefinition()), Dataset.from_pandas(reference, ...))`` and reading the verdicts from
  the snapshot (``.dict()``), the column kinds inferred by Evidently as for a user who gives none (loopml
  infers them the same way), as the issue measures it; and, for context, its legacy report
  (``evidently.legacy``'s ``DataDriftPreset``, given those kinds in a ``ColumnMapping``), which computes
  each column once where the 0.7 report computes it twice (per column, and again for the count).

The figures are the best and the median of ``--repeats``. The verdicts of both tools are compared column
by column, with the test each chose, its threshold and its statistic (for the p-value tests, Evidently's
drift score is the p-value); a disagreement marks the table and the bench exits non-zero.

Sections: the run is a list of sections (``SECTIONS``), each a function of the run's context that returns
its table rows and notes; ``--only`` runs some of them. Further measurements of the monitoring layer
(streaming logged rows within a memory bound, checking a window from stored segment profiles) go in as
sections of their own.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: make _common importable

from _common import (
    REPO_DIR,
    RESULTS_FILE,
    VENVS_DIR,
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

# The venv the agreement fixtures were made in (bench/evidently_fixtures.py): the same Evidently here.
EVIDENTLY_REQUIREMENTS = ["evidently>=0.7,<0.8", "pandas<3", "pyarrow"]
EVIDENTLY_VENV = "evidently"
RESULTS_HEADING = "## Drift (bench/drift.py)"
LOOPML_PYTHON = Path(sys.executable)  # the project's venv, which runs the bench
SEED = 20_241_205
SPEED_GOAL = 30.0  # "at least 30x faster than Evidently with the same per-column verdicts"
WARMUP_ROWS = 2_000
REL_TOL = 1e-6  # statistics agree within this, relative (as the agreement tests require)
ABS_TOL = 1e-15  # Evidently's 1 - cdf p-values are good to about 1e-16 absolute
P_VALUE_TESTS = ("ks", "chisquare", "z")


# -- the data


@dataclass(frozen=True)
class Numeric:
    name: str
    kind: str  # "normal", "lognormal", "poisson", "small"
    shift: float = 0.0  # in the column's standard deviations (small: share of the mass moved)
    nulls: float = 0.0
    scale: float = 1.0  # current's spread over the reference's


@dataclass(frozen=True)
class Category:
    name: str
    values: int
    shift: float = 0.0  # share of the mass moved to the rarest values
    nulls: float = 0.0


NUMERIC = [
    Numeric("f00", "normal", shift=0.5),  # far over
    Numeric("f01", "normal", shift=0.2),  # over
    Numeric("f02", "normal", shift=0.11),  # just over the Wasserstein line (0.1 sd)
    Numeric("f03", "normal", shift=0.09),  # just under it
    Numeric("f04", "normal"),
    Numeric("f05", "normal", nulls=0.02),
    Numeric("f06", "normal"),
    Numeric("f07", "normal"),
    Numeric("f08", "normal", scale=1.05),  # a little wider: under
    Numeric("f09", "normal"),
    Numeric("f10", "lognormal", scale=1.3),  # wider: over
    Numeric("f11", "lognormal"),
    Numeric("f12", "lognormal"),
    Numeric("f13", "lognormal"),
    Numeric("i14", "poisson", shift=0.3),
    Numeric("i15", "poisson"),
    Numeric("i16", "poisson"),
    Numeric("i17", "poisson"),
    Numeric("i18", "small", shift=0.2),
    Numeric("i19", "small"),
]
CATEGORIES = [
    Category("c20", 3, shift=0.3),
    Category("c21", 5),
    Category("c22", 10, shift=0.1),
    Category("c23", 30, nulls=0.02),
    Category("c24", 2),
]
COLUMNS = [c.name for c in NUMERIC] + [c.name for c in CATEGORIES]


def _numeric(rng: np.random.Generator, col: Numeric, i: int, n: int, current: bool) -> pa.Array:
    shift = col.shift if current else 0.0
    scale = col.scale if current else 1.0
    if col.kind == "normal":
        loc, sd = 10.0 * (i + 1), 1.0 + i % 4
        values = rng.normal(loc + shift * sd, sd * scale, n)
    elif col.kind == "lognormal":
        values = np.round(rng.lognormal(1.0, 0.5 * scale, n) + shift, 4)
    elif col.kind == "poisson":
        lam = 20.0 + 15 * (i % 4)
        values = rng.poisson(lam + shift * math.sqrt(lam), n).astype(np.int64)
    else:  # at most 5 values
        probs = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
        if shift:
            probs = (1 - shift) * probs + shift * np.array([0, 0, 0, 0, 1.0])
        values = rng.choice(np.arange(1, 6, dtype=np.int64), n, p=probs)
    mask = rng.random(n) < col.nulls if col.nulls else None
    return pa.array(values, mask=mask)


def _category(rng: np.random.Generator, col: Category, n: int, current: bool) -> pa.Array:
    weights = 1.0 / np.arange(1, col.values + 1)  # a long tail, as real categories have
    probs = weights / weights.sum()
    if current and col.shift:
        rare = np.zeros(col.values)
        rare[col.values // 2 :] = 1.0
        probs = (1 - col.shift) * probs + col.shift * rare / rare.sum()
    codes = rng.choice(col.values, n, p=probs)
    names = pa.array([f"{col.name}_{v:02d}" for v in range(col.values)])
    mask = rng.random(n) < col.nulls if col.nulls else None
    indices = pa.array(codes.astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, names).dictionary_decode()  # plain strings


def write_frames(folder: Path, rows: int, seed: int) -> dict[str, str]:
    """Write reference.parquet and current.parquet of ``rows`` rows each; return their paths."""
    rng = np.random.default_rng(seed)
    paths = {}
    for side in ("reference", "current"):
        current = side == "current"
        arrays = [_numeric(rng, col, i, rows, current) for i, col in enumerate(NUMERIC)]
        arrays += [_category(rng, col, rows, current) for col in CATEGORIES]
        path = folder / f"{side}-{rows}.parquet"
        pq.write_table(pa.table(arrays, names=COLUMNS), path, compression="zstd")
        paths[side] = str(path)
    return paths


# -- the worker: one process per tool and data set, in loopml's venv or in Evidently's

WORKER = '''"""The drift bench's worker (written by bench/drift.py): one tool, one pair of frames."""

import json
import sys
import time

import pandas as pd

REQ = json.loads(sys.argv[1])


def frames():
    return pd.read_parquet(REQ["reference"]), pd.read_parquet(REQ["current"])


def timed(run, reference, current):
    """An untimed run on the first rows (lazy imports, caches), then each repeat timed."""
    run(reference.head(REQ["warmup_rows"]), current.head(REQ["warmup_rows"]))
    times, result = [], None
    cpu = []
    for _ in range(REQ["repeats"]):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = run(reference, current)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    result["cpu_s"] = cpu  # all threads of the process: above the wall time when it runs in parallel
    return times, result


def loopml():
    import loopml as lm

    reference, current = frames()

    def run(ref, cur):
        report = lm.drift(ref, cur)
        columns = {
            name: {
                "test": c.test, "threshold": c.threshold, "statistic": c.statistic, "p_value": c.p_value,
                "drifted": bool(c.drifted),
            }
            for name, c in report.columns.items()
        }
        return {"columns": columns, "drifted": bool(report.drifted), "drift_share": report.drift_share}

    times, result = timed(run, reference, current)
    return {"times_s": times, **result, "version": lm.__version__ if hasattr(lm, "__version__") else ""}


def _test_names():
    from evidently.legacy.calculations.stattests import registry

    tests = [t for kinds in registry._registered_stat_tests.values() for t in kinds.values()]
    return {t.display_name: t.name for t in tests}


def evidently():
    import evidently as ev
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    reference, current = frames()
    names = _test_names()

    def run(ref, cur):
        # the column kinds inferred, as for a user who gives none
        snapshot = Report([DataDriftPreset()], include_tests=True).run(
            Dataset.from_pandas(cur, data_definition=DataDefinition()),
            Dataset.from_pandas(ref, data_definition=DataDefinition()),
        )
        got = snapshot.dict()
        columns, share = {}, None
        for metric in got["metrics"]:
            config = metric["config"]
            if config["type"].endswith("ValueDrift"):
                columns[config["column"]] = {
                    "test": names.get(config["method"], config["method"]),
                    "threshold": config["threshold"],
                    "score": metric["value"],
                }
            elif config["type"].endswith("DriftedColumnsCount"):
                share = metric["value"]["share"]
        for test in got["tests"]:
            params = test["metric_config"]["params"]
            if params["type"].endswith("ValueDrift"):
                columns[params["column"]]["drifted"] = test["status"] == "FAIL"
        # the 0.7 report gives the share; the dataset verdict is Evidently's rule on it
        return {"columns": columns, "drift_share": share, "drifted": share >= 0.5}

    times, result = timed(run, reference, current)
    return {"times_s": times, **result, "version": ev.__version__}


def evidently_legacy():
    from evidently.core.datasets import infer_column_type
    from evidently.legacy.core import ColumnType
    from evidently.legacy.metric_preset import DataDriftPreset
    from evidently.legacy.pipeline.column_mapping import ColumnMapping
    from evidently.legacy.report import Report

    reference, current = frames()
    names = _test_names()
    # the kinds the 0.7 report infers from the current data (the legacy report has rules of its own)
    kinds = {c: infer_column_type(current[c]) for c in current.columns}
    mapping = ColumnMapping(
        target=None, prediction=None,
        numerical_features=[c for c, k in kinds.items() if k == ColumnType.Numerical],
        categorical_features=[c for c, k in kinds.items() if k == ColumnType.Categorical],
    )

    def run(ref, cur):
        report = Report(metrics=[DataDriftPreset()])
        report.run(reference_data=ref, current_data=cur, column_mapping=mapping)
        metrics = report.as_dict()["metrics"]
        table = next(m["result"] for m in metrics if m["metric"] == "DataDriftTable")
        columns = {
            name: {
                "test": names[c["stattest_name"]], "threshold": c["stattest_threshold"],
                "score": c["drift_score"], "drifted": c["drift_detected"],
            }
            for name, c in table["drift_by_columns"].items()
        }
        return {
            "columns": columns, "drift_share": table["share_of_drifted_columns"],
            "drifted": table["dataset_drift"],
        }

    times, result = timed(run, reference, current)
    return {"times_s": times, **result}


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")  # the tools' deprecation and division warnings
    work = {"loopml": loopml, "evidently": evidently, "evidently-legacy": evidently_legacy}[REQ["workload"]]
    print(json.dumps(work()))
'''


# -- comparing the answers


@dataclass
class Agreement:
    columns: int = 0
    verdicts_agree: int = 0
    problems: list[str] = field(default_factory=list)
    max_rel_diff: float = 0.0  # of the statistics (p-values for the p-value tests)
    tests: dict[str, int] = field(default_factory=dict)  # test chosen -> columns

    @property
    def ok(self) -> bool:
        return not self.problems


def compare(loopml: Mapping[str, Any], evidently: Mapping[str, Any]) -> Agreement:
    """Column by column: the same test, threshold and verdict, and the statistic within REL_TOL."""
    out = Agreement()
    for column, ev in evidently["columns"].items():
        out.columns += 1
        out.tests[ev["test"]] = out.tests.get(ev["test"], 0) + 1
        lm = loopml["columns"].get(column)
        if lm is None:
            out.problems.append(f"{column}: missing from loopml's report")
            continue
        if lm["drifted"] == ev["drifted"]:
            out.verdicts_agree += 1
        else:
            out.problems.append(f"{column}: verdict drifted={ev['drifted']} (Evidently) vs {lm['drifted']}")
        if lm["test"] != ev["test"]:
            out.problems.append(f"{column}: test {ev['test']} (Evidently) vs {lm['test']}")
        if not math.isclose(lm["threshold"], ev["threshold"], rel_tol=1e-12):
            out.problems.append(f"{column}: threshold {ev['threshold']} (Evidently) vs {lm['threshold']}")
        ours = lm["p_value"] if ev["test"] in P_VALUE_TESTS else lm["statistic"]
        theirs = ev["score"]
        if ours is None or not math.isclose(ours, theirs, rel_tol=REL_TOL, abs_tol=ABS_TOL):
            out.problems.append(f"{column}: {ev['test']} score {theirs!r} (Evidently) vs {ours!r}")
        elif theirs != 0:
            out.max_rel_diff = max(out.max_rel_diff, abs(ours - theirs) / abs(theirs))
    if set(loopml["columns"]) != set(evidently["columns"]):
        out.problems.append(f"columns: {sorted(evidently['columns'])} vs {sorted(loopml['columns'])}")
    if loopml["drifted"] != evidently["drifted"]:
        out.problems.append(f"dataset: drifted={evidently['drifted']} (Evidently) vs {loopml['drifted']}")
    return out


# -- the run and its sections


@dataclass(frozen=True)
class Row:
    label: str
    loopml: str
    evidently: str
    times: str = "—"
    goal: str = "—"
    met: bool | None = None

    def cells(self) -> list[str]:
        met = "—" if self.met is None else ("yes" if self.met else "NO")
        return [self.label, self.loopml, self.evidently, self.times, self.goal, met]


TABLE_HEADER = ("Measurement", "loopml", "Evidently", "Evidently / loopml", "Goal", "Met")


@dataclass
class Context:
    """What every section gets: where to work, with which Pythons, how hard."""

    session: Path
    evidently_python: Path
    rows: int
    repeats: int
    quick: bool
    raw: dict[str, Any] = field(default_factory=dict)  # each section's raw results, saved as results.json

    def run(self, python: Path, workload: str, paths: Mapping[str, str]) -> dict[str, Any]:
        request = {
            "workload": workload,
            **paths,
            "repeats": self.repeats,
            "warmup_rows": WARMUP_ROWS,
        }
        print(f"  {workload}: {Path(paths['reference']).name} vs {Path(paths['current']).name}", flush=True)
        # loopml's worker sees this environment (PYTHONPATH too, for a checkout's sources); the other
        # tool's venv gets it without what would point it at loopml's Python or sources
        env = None if python == LOOPML_PYTHON else _foreign_env()
        got = run_worker(
            python, self.session / "drift_worker.py", request, cwd=self.session, env=env, timeout_s=7200
        )
        print(f"    {', '.join(fmt_duration(t) for t in got['times_s'])}", flush=True)
        return got


def _foreign_env() -> dict[str, str]:
    drop = ("LOOPML_", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@dataclass
class SectionResult:
    rows: list[Row]
    notes: list[str]
    ok: bool = True


def _times(label: str, got: Mapping[str, Any]) -> str:
    each = (
        f"{fmt_duration(t)} (CPU {fmt_duration(c)})"
        for t, c in zip(got["times_s"], got["cpu_s"], strict=True)
    )
    return f"{label}: " + ", ".join(each)


def _agreement_note(what: str, agreement: Agreement) -> str:
    tests = ", ".join(f"{name} {n}" for name, n in sorted(agreement.tests.items()))
    if agreement.ok:
        return (
            f"{what}: every column agrees (tests chosen: {tests}; the same thresholds; statistics within "
            f"{agreement.max_rel_diff:.1e} relative at most)."
        )
    return f"{what}: **DISAGREEMENTS**: " + "; ".join(agreement.problems)


def side_by_side(ctx: Context) -> SectionResult:
    """The issue's measurement: 100,000 against 100,000 rows, 25 columns, shift in some."""
    print(f"{ctx.rows:,} vs {ctx.rows:,} rows, {len(COLUMNS)} columns")
    paths = write_frames(ctx.session, ctx.rows, SEED)
    lm = ctx.run(LOOPML_PYTHON, "loopml", paths)
    ev = ctx.run(ctx.evidently_python, "evidently", paths)
    legacy = ctx.run(ctx.evidently_python, "evidently-legacy", paths)
    ctx.raw["side_by_side"] = {"loopml": lm, "evidently": ev, "evidently_legacy": legacy}
    agreement = compare(lm, ev)
    legacy_agreement = compare(lm, legacy)
    best = {k: min(v["times_s"]) for k, v in (("lm", lm), ("ev", ev), ("legacy", legacy))}
    med = {k: median(v["times_s"]) for k, v in (("lm", lm), ("ev", ev), ("legacy", legacy))}
    size = f"{ctx.rows:,} vs {ctx.rows:,} rows, {len(COLUMNS)} columns"
    drifted = sum(c["drifted"] for c in ev["columns"].values())
    rows = [
        Row(
            f"{size}: `lm.drift` vs `DataDriftPreset` (0.7 `Report`), best of {ctx.repeats}",
            fmt_duration(best["lm"]),
            fmt_duration(best["ev"]),
            fmt_ratio(ratio(best["ev"], best["lm"])),
            f"≥ ×{SPEED_GOAL:g}",
            ratio(best["ev"], best["lm"]) >= SPEED_GOAL,
        ),
        Row(
            f"{size}: the same, median of {ctx.repeats}",
            fmt_duration(med["lm"]),
            fmt_duration(med["ev"]),
            fmt_ratio(ratio(med["ev"], med["lm"])),
        ),
        Row(
            f"{size}: CPU time of the process during the run (all threads; context: a busy shared machine "
            f"stretches wall time, not CPU time), best of {ctx.repeats}",
            fmt_duration(min(lm["cpu_s"])),
            fmt_duration(min(ev["cpu_s"])),
            fmt_ratio(ratio(min(ev["cpu_s"]), min(lm["cpu_s"]))),
        ),
        Row(
            f"{size}: against Evidently's legacy report (`evidently.legacy` `DataDriftPreset`; context), "
            f"best of {ctx.repeats}",
            fmt_duration(best["lm"]),
            fmt_duration(best["legacy"]),
            fmt_ratio(ratio(best["legacy"], best["lm"])),
        ),
        Row(
            f"{size}: per-column verdicts ({drifted} of {agreement.columns} drift), the same as Evidently's",
            f"{agreement.verdicts_agree} of {agreement.columns}",
            "—",
            goal="all",
            met=agreement.ok and legacy_agreement.ok,
        ),
    ]
    notes = [
        _agreement_note(f"{size}, against the 0.7 report", agreement),
        _agreement_note(f"{size}, against the legacy report", legacy_agreement),
        f"{size}, dataset verdict: drift share {ev['drift_share']:.2f} in Evidently, "
        f"{lm['drift_share']:.2f} in loopml (dataset drift: {ev['drifted']} / {lm['drifted']}).",
        f"{size}, each repeat: "
        + "; ".join(
            (
                _times("loopml", lm),
                _times("Evidently 0.7 report", ev),
                _times("Evidently legacy report", legacy),
            )
        ),
    ]
    return SectionResult(rows, notes, agreement.ok and legacy_agreement.ok)


def small_pair(ctx: Context) -> SectionResult:
    """800 against 800 rows: the p-value tests must agree too."""
    n = 800
    print(f"{n} vs {n} rows, {len(COLUMNS)} columns")
    paths = write_frames(ctx.session, n, SEED + 1)
    lm = ctx.run(LOOPML_PYTHON, "loopml", paths)
    ev = ctx.run(ctx.evidently_python, "evidently", paths)
    ctx.raw["small_pair"] = {"loopml": lm, "evidently": ev}
    agreement = compare(lm, ev)
    drifted = sum(c["drifted"] for c in ev["columns"].values())
    size = f"{n} vs {n} rows, {len(COLUMNS)} columns (p-value tests)"
    rows = [
        Row(
            f"{size}: `lm.drift` vs `DataDriftPreset` (0.7 `Report`), median of {ctx.repeats}",
            fmt_duration(median(lm["times_s"])),
            fmt_duration(median(ev["times_s"])),
            fmt_ratio(ratio(median(ev["times_s"]), median(lm["times_s"]))),
        ),
        Row(
            f"{size}: per-column verdicts ({drifted} of {agreement.columns} drift), the same as Evidently's",
            f"{agreement.verdicts_agree} of {agreement.columns}",
            "—",
            goal="all",
            met=agreement.ok,
        ),
    ]
    notes = [
        _agreement_note(size, agreement),
        f"{size}, each repeat: " + "; ".join((_times("loopml", lm), _times("Evidently 0.7 report", ev))),
    ]
    return SectionResult(rows, notes, agreement.ok)


# Each section measures one thing and returns its rows and notes; they run in this order. Add a
# measurement as a function of the Context here.
SECTIONS: dict[str, Callable[[Context], SectionResult]] = {
    "side-by-side": side_by_side,
    "small-pair": small_pair,
}


# -- the bench


def loopml_version() -> str:
    """The package version and the commit measured: loopml changes faster than its version number."""
    version = importlib.metadata.version("loopml")
    git = ["git", "-C", str(REPO_DIR)]
    try:  # read-only git queries; a copy without git just gets the version
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "src"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return version
    return f"{version} (commit {commit}{', with uncommitted changes in src/' if dirty else ''})"


def tool_versions(evidently_python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m; "
        "print(' '.join(m.version(p) for p in ('evidently', 'pandas', 'scipy', 'numpy')))"
    )
    out = subprocess.run([str(evidently_python), "-c", code], capture_output=True, text=True, check=True)
    ev, ev_pandas, ev_scipy, ev_numpy = out.stdout.split()
    mine = {p: importlib.metadata.version(p) for p in ("pandas", "scipy", "numpy")}
    return {
        "loopml": loopml_version(),
        "evidently": f"{ev} (pandas {ev_pandas}, scipy {ev_scipy}, numpy {ev_numpy})",
        "loopml_deps": f"pandas {mine['pandas']}, scipy {mine['scipy']}, numpy {mine['numpy']}",
    }


def results_section(
    command: str,
    quick: bool,
    versions: Mapping[str, str],
    load: str,
    rows: Sequence[Row],
    notes: Sequence[str],
) -> str:
    m = machine_info()
    smoke = " (smoke run: small data, one repeat; not the reference figures)" if quick else ""
    venv = (
        f"bench/.venvs/{EVIDENTLY_VENV}"
        if (VENVS_DIR / EVIDENTLY_VENV).is_relative_to(REPO_DIR)
        else f"the `{EVIDENTLY_VENV}` venv of `LOOPML_BENCH_VENVS`"
    )
    lines = [
        f"- Date: {utc_now()}",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM; Python {m['python']}; {m['os']}; {load}",
        f"- Versions: loopml {versions['loopml']}, project `.venv` ({versions['loopml_deps']}); Evidently "
        f"{versions['evidently']} (`{' '.join(EVIDENTLY_REQUIREMENTS)}` in {venv})",
        f"- Command: `{command}`{smoke}",
        "",
        markdown_table(TABLE_HEADER, [row.cells() for row in rows]),
        "",
        *(f"- {note}" for note in notes),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 rows, one repeat: a smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the data under bench/.work/")
    parser.add_argument("--no-write", action="store_true", help="print the table but leave RESULTS.md alone")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per tool (default 3)")
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), help="run only these sections")
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    if repeats < 1:
        parser.error("--repeats must be at least 1")

    compile_loopml()
    evidently_python = ensure_venv(EVIDENTLY_VENV, EVIDENTLY_REQUIREMENTS)
    versions = tool_versions(evidently_python)
    session = fresh_dir(WORK_DIR, "drift-")
    (session / "drift_worker.py").write_text(WORKER)
    print(f"data and raw results in {session.relative_to(REPO_DIR)}")
    load_before = load_average()
    ctx = Context(session, evidently_python, 10_000 if args.quick else 100_000, repeats, args.quick)
    rows: list[Row] = []
    notes: list[str] = []
    ok = True
    for name in args.only or list(SECTIONS):
        result = SECTIONS[name](ctx)
        rows += result.rows
        notes += result.notes
        ok = ok and result.ok
    load = f"load average {load_before} at the start, {load_average()} at the end (a shared machine)"
    (session / "results.json").write_text(json.dumps({"versions": versions, **ctx.raw}, indent=1))

    notes = [
        "Data: generated with a fixed seed and written as Parquet, which both tools read (untimed) into "
        "their own pandas; 14 float columns (normal, and lognormal rounded to 4 decimals, one with 2 % "
        "nulls), 4 integer columns with many values (Poisson), 2 with at most 5 values, 5 string columns "
        "of 3, 5, 10, 30 (2 % nulls) and 2 categories. Shifted in the current: f00 by 0.5 sd, f01 by 0.2, "
        "f02 by 0.11 and f03 by 0.09 (either side of the Wasserstein line at 0.1), f08 and f10 wider, "
        "i14 and i18, c20 and c22; the others not.",
        "Method: each tool in a fresh process of its own venv; data loading and imports untimed, then one "
        f"untimed run on the first {WARMUP_ROWS:,} rows, then each repeat timed from the frames in memory "
        "until the per-column verdicts are read: `lm.drift(reference, current)`; Evidently's "
        "`Report([DataDriftPreset()], include_tests=True).run(Dataset.from_pandas(...), ...)` with an empty "
        "`DataDefinition()` (Evidently infers the kinds), then `snapshot.dict()`; and its legacy "
        "`Report(metrics=[DataDriftPreset()])` with a `ColumnMapping` of those kinds, then `as_dict()`. "
        "Ratio = Evidently's time / loopml's.",
        *notes,
    ]
    notes += changed_during_run(versions["loopml"], loopml_version())
    print_report(TABLE_HEADER, [row.cells() for row in rows], notes)
    if not args.keep:
        for child in session.iterdir():
            if child.name != "results.json":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    if not args.no_write:
        command = " ".join([".venv/bin/python bench/drift.py", *(argv if argv is not None else sys.argv[1:])])
        write_results_section(
            RESULTS_HEADING, results_section(command, args.quick, versions, load, rows, notes)
        )
        print(f"wrote {RESULTS_FILE.relative_to(REPO_DIR)}")
    if not ok:
        print("the verdicts disagree: see the notes", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
