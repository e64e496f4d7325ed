"""loopml's tracking side by side with MLflow on its SQLite backend.

    .venv/bin/python bench/tracking.py [--quick] [--keep]

Each workload runs once per tool, each time in a fresh subprocess against a fresh SQLite database in its own
folder under ``bench/.work/``: loopml with this project's ``.venv``, MLflow with its own virtualenv at
``bench/.venvs/mlflow`` (created on first use; MLflow never goes into the project's venv). The worker
scripts are written next to the databases, so a surprising figure can be re-run and inspected by hand.

Workloads (``--quick`` divides every size by 10):

* ``log_metric``: 10,000 single ``log_metric`` calls inside one run; per-call mean, p50, p99. loopml buffers
  and writes in the background, so its final ``flush()`` (what makes the values durable) is reported too.
  MLflow's own background mode (``synchronous=False``) is measured as well, for context.
* ``log_batch``: 10,000 metrics in batches of 1,000, timed until durable.
* ``create_runs``: 1,000 runs, each started and ended with 2 params and 1 metric, timed until durable.
* ``search``: 10,000 runs (``f1`` uniform in [0, 1), ``model`` in rf/gbm/lr; the same data for both tools)
  are written as fast as each tool allows, then ``metrics.f1 > 0.8 and params.model = 'rf'`` ordered by
  ``f1`` desc, up to 1,000 runs, is searched 5 times; the median counts.

The table gives MLflow's time over loopml's and checks the goals; ``bench/RESULTS.md`` gets the same.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: make _common importable

from _common import (
    REPO_DIR,
    RESULTS_FILE,
    WORK_DIR,
    ensure_venv,
    fmt_duration,
    fmt_ratio,
    fresh_dir,
    machine_info,
    markdown_table,
    ratio,
    run_worker,
    utc_now,
    write_results_section,
)

# Pinned so figures stay comparable over time; the full package (not -skinny) brings SQLAlchemy and alembic,
# which MLflow's SQL tracking store needs. Bump on purpose, and say so in RESULTS.md.
MLFLOW_REQUIREMENT = "mlflow==3.17.2"
RESULTS_HEADING = "## Tracking (bench/tracking.py)"
LOOPML_PYTHON = REPO_DIR / ".venv" / "bin" / "python"
SEED = 20_241_122
SEARCH_FILTER = "metrics.f1 > 0.8 and params.model = 'rf'"
GOALS = {"log_metric": 100.0, "log_batch": 10.0, "search": 10.0}


@dataclass(frozen=True)
class Sizes:
    log_calls: int
    batch_total: int
    batch_size: int
    runs: int
    search_runs: int
    search_limit: int
    search_repeats: int = 5

    @classmethod
    def full(cls) -> Sizes:
        return cls(
            log_calls=10_000,
            batch_total=10_000,
            batch_size=1_000,
            runs=1_000,
            search_runs=10_000,
            search_limit=1_000,
        )

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            log_calls=1_000, batch_total=1_000, batch_size=100, runs=100, search_runs=1_000, search_limit=100
        )


# -- the workers: small stand-alone scripts, one per tool, run as `python worker.py REQUEST_JSON`
#
# Both share the same prelude and entry point; only the tool calls differ. Setup (opening the database,
# creating its schema, first imports) happens in a warm-up run in another experiment, outside every timer.

_WORKER_PRELUDE = '''\
import contextlib, glob, json, os, platform, sqlite3, statistics, sys, time

clock = time.perf_counter_ns


def seconds(ns):
    return ns / 1e9


def check(what, found, expected):
    """Untimed read-back after each workload: a time only counts if the data really landed."""
    if found != expected:
        raise SystemExit(f"{TOOL}: {what}: found {found}, expected {expected}")


def per_call(samples_ns):
    """Mean, p50 and p99 of per-call times, in microseconds."""
    return {
        "mean_us": statistics.fmean(samples_ns) / 1e3,
        "p50_us": statistics.median(samples_ns) / 1e3,
        "p99_us": statistics.quantiles(samples_ns, n=100, method="inclusive")[98] / 1e3,
    }
'''

_WORKER_MAIN = """

def journal_mode(home):
    # How the tool left its SQLite file: 'wal', or 'delete' (the rollback journal, SQLite's default).
    for path in glob.glob(os.path.join(home, "*.db")):
        with contextlib.closing(sqlite3.connect(path)) as conn:
            return conn.execute("PRAGMA journal_mode").fetchone()[0]
    return "?"


def main():
    request = json.loads(sys.argv[1])
    setup(request["home"])
    result = WORKLOADS[request["workload"]](**request["params"])
    result.update(tool=TOOL, version=VERSION, workload=request["workload"],
                  python=platform.python_version(), sqlite=sqlite3.sqlite_version,
                  journal_mode=journal_mode(request["home"]))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
"""

LOOPML_WORKER = (
    _WORKER_PRELUDE
    + """
import importlib.metadata

import loopml as lm

TOOL = "loopml"
VERSION = importlib.metadata.version("loopml")
EXPERIMENT = "bench"


def setup(home):
    lm.configure(home=home)
    with lm.start_run(experiment="warmup", name="warmup"):
        lm.log_param("warm", 1)
        lm.log_metric("warm", 1.0)
    lm.flush()


def log_metric(n):
    samples = [0] * n
    with lm.start_run(experiment=EXPERIMENT, name="log_metric") as run:
        start = clock()
        for i in range(n):
            t = clock()
            lm.log_metric("loss", 1.0 / (i + 1), step=i)
            samples[i] = clock() - t
        calls = clock() - start
        t = clock()
        lm.flush()
        flush = clock() - t
    check("loss values stored", len(lm.get_metric_history(run.id, "loss")), n)
    return {"calls_s": seconds(calls), "flush_s": seconds(flush), "total_s": seconds(calls + flush),
            **per_call(samples)}


def log_batch(total, size):
    batches = [{f"m{k}": (step * size + k) / total for k in range(size)} for step in range(total // size)]
    with lm.start_run(experiment=EXPERIMENT, name="log_batch") as run:
        start = clock()
        for step, metrics in enumerate(batches):
            lm.log_metrics(metrics, step=step)
        lm.flush()
        elapsed = clock() - start
    check("keys stored", len(lm.get_run(run.id).metrics), size)
    check("steps of the last key", len(lm.get_metric_history(run.id, f"m{size - 1}")), total // size)
    return {"total_s": seconds(elapsed)}


def create_runs(n):
    start = clock()
    for i in range(n):
        with lm.start_run(experiment=EXPERIMENT, name=f"run-{i}"):
            lm.log_params({"lr": 0.01, "depth": i % 10})
            lm.log_metric("acc", i / n)
    lm.flush()
    elapsed = clock() - start
    runs = lm.search_runs(experiment=EXPERIMENT, limit=n + 1)
    check("runs stored", len(runs), n)
    check("runs complete", sum(len(r.params) == 2 and "acc" in r.metrics for r in runs), n)
    return {"total_s": seconds(elapsed)}


def search(data_path, filter, limit, repeats):
    with open(data_path) as f:
        rows = json.load(f)
    start = clock()
    for i, (model, f1) in enumerate(rows):
        with lm.start_run(experiment=EXPERIMENT, name=f"p{i}"):
            lm.log_params({"model": model})
            lm.log_metric("f1", f1)
    lm.flush()
    populate = clock() - start
    check("runs stored", len(lm.search_runs(experiment=EXPERIMENT, limit=len(rows) + 1)), len(rows))
    times = []
    for _ in range(repeats):
        t = clock()
        runs = lm.search_runs(filter=filter, experiment=EXPERIMENT, order_by=["metrics.f1 desc"], limit=limit)
        times.append(clock() - t)
    return {"populate_s": seconds(populate), "search_s": seconds(statistics.median(times)),
            "search_all_s": [seconds(t) for t in times], "count": len(runs),
            "f1s": [r.metrics["f1"] for r in runs]}


WORKLOADS = {"log_metric": log_metric, "log_batch": log_batch, "create_runs": create_runs, "search": search}
"""
    + _WORKER_MAIN
)

MLFLOW_WORKER = (
    _WORKER_PRELUDE
    + """
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param

TOOL = "mlflow"
VERSION = mlflow.__version__
state = {}


def setup(home):
    mlflow.set_tracking_uri("sqlite:///" + os.path.join(home, "mlflow.db"))
    artifacts = "file://" + os.path.join(home, "artifacts")
    warmup = mlflow.create_experiment("warmup", artifact_location=artifacts)
    with mlflow.start_run(experiment_id=warmup, run_name="warmup"):
        mlflow.log_param("warm", 1)
        mlflow.log_metric("warm", 1.0)
    state["experiment_id"] = mlflow.create_experiment("bench", artifact_location=artifacts)
    state["client"] = MlflowClient()


def log_metric(n, synchronous=True):
    samples = [0] * n
    with mlflow.start_run(experiment_id=state["experiment_id"], run_name="log_metric") as run:
        start = clock()
        for i in range(n):
            t = clock()
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i, synchronous=synchronous)
            samples[i] = clock() - t
        calls = clock() - start
        t = clock()
        if not synchronous:
            mlflow.flush_async_logging()
        flush = clock() - t
    check("loss values stored", len(state["client"].get_metric_history(run.info.run_id, "loss")), n)
    return {"calls_s": seconds(calls), "flush_s": seconds(flush), "total_s": seconds(calls + flush),
            **per_call(samples)}


def log_metric_async(n):
    return log_metric(n, synchronous=False)


def log_batch(total, size):
    client = state["client"]
    now = int(time.time() * 1000)
    batches = [[Metric(f"m{k}", (step * size + k) / total, now, step) for k in range(size)]
               for step in range(total // size)]
    with mlflow.start_run(experiment_id=state["experiment_id"], run_name="log_batch") as run:
        start = clock()
        for metrics in batches:
            client.log_batch(run.info.run_id, metrics=metrics)
        elapsed = clock() - start
    run_id = run.info.run_id
    check("keys stored", len(client.get_run(run_id).data.metrics), size)
    check("steps of the last key", len(client.get_metric_history(run_id, f"m{size - 1}")), total // size)
    return {"total_s": seconds(elapsed)}


def create_runs(n):
    start = clock()
    for i in range(n):
        with mlflow.start_run(experiment_id=state["experiment_id"], run_name=f"run-{i}"):
            mlflow.log_params({"lr": 0.01, "depth": i % 10})
            mlflow.log_metric("acc", i / n)
    elapsed = clock() - start
    runs = state["client"].search_runs([state["experiment_id"]], max_results=n + 1)
    check("runs stored", len(runs), n)
    check("runs complete", sum(len(r.data.params) == 2 and "acc" in r.data.metrics for r in runs), n)
    return {"total_s": seconds(elapsed)}


def search(data_path, filter, limit, repeats):
    client, experiment_id = state["client"], state["experiment_id"]
    with open(data_path) as f:
        rows = json.load(f)
    # Populate through the client, not the fluent API: the fewest calls per run MLflow offers.
    start = clock()
    for i, (model, f1) in enumerate(rows):
        run_id = client.create_run(experiment_id, run_name=f"p{i}").info.run_id
        now = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric("f1", f1, now, 0)], params=[Param("model", model)])
        client.set_terminated(run_id)
    populate = clock() - start
    check("runs stored", len(client.search_runs([experiment_id], max_results=len(rows) + 1)), len(rows))
    times = []
    for _ in range(repeats):
        t = clock()
        runs = client.search_runs([experiment_id], filter_string=filter, order_by=["metrics.f1 DESC"],
                                  max_results=limit)
        times.append(clock() - t)
    return {"populate_s": seconds(populate), "search_s": seconds(statistics.median(times)),
            "search_all_s": [seconds(t) for t in times], "count": len(runs),
            "f1s": [r.data.metrics["f1"] for r in runs]}


WORKLOADS = {"log_metric": log_metric, "log_metric_async": log_metric_async, "log_batch": log_batch,
             "create_runs": create_runs, "search": search}
"""
    + _WORKER_MAIN
)


# -- the driver


@dataclass(frozen=True)
class Workload:
    name: str
    params: Mapping[str, Any]
    tools: Sequence[str] = ("loopml", "mlflow")


@dataclass
class Row:
    """One line of the results table: a time per tool and, maybe, a goal for their ratio."""

    label: str
    loopml_s: float
    mlflow_s: float
    goal: float | None = None

    @property
    def ratio(self) -> float:
        return ratio(self.mlflow_s, self.loopml_s)

    def goal_text(self) -> str:
        return "—" if self.goal is None else f"≥ ×{self.goal:g}"

    def met_text(self) -> str:
        if self.goal is None:
            return "—"
        return "yes" if self.ratio >= self.goal else "NO"


def plan(sizes: Sizes, data_path: Path) -> list[Workload]:
    return [
        Workload("log_metric", {"n": sizes.log_calls}),
        Workload("log_metric_async", {"n": sizes.log_calls}, tools=("mlflow",)),
        Workload("log_batch", {"total": sizes.batch_total, "size": sizes.batch_size}),
        Workload("create_runs", {"n": sizes.runs}),
        Workload(
            "search",
            {
                "data_path": str(data_path),
                "filter": SEARCH_FILTER,
                "limit": sizes.search_limit,
                "repeats": sizes.search_repeats,
            },
        ),
    ]


def make_search_data(n: int, seed: int) -> list[tuple[str, float]]:
    """The runs both tools store for the search: one file, read by both, so the data is identical."""
    rng = random.Random(seed)
    return [(rng.choice(("rf", "gbm", "lr")), rng.random()) for _ in range(n)]


def expected_f1s(data: Sequence[tuple[str, float]], limit: int) -> list[float]:
    """What the search must return: f1 of the 'rf' runs above 0.8, best first, at most ``limit``."""
    return sorted((f1 for model, f1 in data if model == "rf" and f1 > 0.8), reverse=True)[:limit]


def worker_env() -> dict[str, str]:
    """This environment minus anything that would point a tool elsewhere; no telemetry (no network here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "MLFLOW_"))}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", PYTHONDONTWRITEBYTECODE="1")
    return env


def run_all(sizes: Sizes, session: Path, mlflow_python: Path, keep: bool) -> dict[str, dict[str, Any]]:
    """Run every workload for every tool, each in a fresh process on a fresh database.

    Returns the workers' results keyed ``tool/workload``.
    """
    scripts = {"loopml": session / "loopml_worker.py", "mlflow": session / "mlflow_worker.py"}
    scripts["loopml"].write_text(LOOPML_WORKER)
    scripts["mlflow"].write_text(MLFLOW_WORKER)
    pythons = {"loopml": LOOPML_PYTHON, "mlflow": mlflow_python}
    data = make_search_data(sizes.search_runs, SEED)
    data_path = session / "search-data.json"
    data_path.write_text(json.dumps(data))
    env = worker_env()
    results: dict[str, dict[str, Any]] = {}
    for workload in plan(sizes, data_path):
        for tool in workload.tools:
            home = fresh_dir(session, f"{tool}-{workload.name}-")
            print(f"  {workload.name:<17} {tool:<7}", end="", flush=True)
            request = {"workload": workload.name, "home": str(home), "params": dict(workload.params)}
            result = run_worker(pythons[tool], scripts[tool], request, cwd=home, env=env)
            print(f" done ({_headline(result)})", flush=True)
            results[f"{tool}/{workload.name}"] = result
            if not keep:
                shutil.rmtree(home, ignore_errors=True)
    (session / "results.json").write_text(json.dumps(results, indent=1))
    return results


def _headline(result: Mapping[str, Any]) -> str:
    if "search_s" in result:
        return f"search {fmt_duration(result['search_s'])}, populate {fmt_duration(result['populate_s'])}"
    if "mean_us" in result:
        return f"{result['mean_us']:,.1f} µs/call, total {fmt_duration(result['total_s'])}"
    return fmt_duration(result["total_s"])


def check_search(results: Mapping[str, Mapping[str, Any]], expected: Sequence[float]) -> list[str]:
    """Warnings if the tools' searches disagree with each other or with the data."""
    warnings = []
    loopml, mlflow = results["loopml/search"], results["mlflow/search"]
    if loopml["count"] != mlflow["count"]:
        warnings.append(
            f"search returned {loopml['count']} runs with loopml but {mlflow['count']} with MLflow"
        )
    for tool, found in (("loopml", loopml), ("MLflow", mlflow)):
        if found["f1s"] != list(expected):
            warnings.append(
                f"{tool}'s search returned {found['count']} runs, not the {len(expected)} expected "
                "(or not in f1 order)"
            )
    return warnings


def build_rows(sizes: Sizes, r: Mapping[str, Mapping[str, Any]]) -> list[Row]:
    lm_call, ml_call = r["loopml/log_metric"], r["mlflow/log_metric"]
    return [
        Row(
            f"log_metric, per call (mean of {sizes.log_calls:,})",
            lm_call["mean_us"] / 1e6,
            ml_call["mean_us"] / 1e6,
            GOALS["log_metric"],
        ),
        Row(
            f"log_metric, {sizes.log_calls:,} calls + flush (until durable)",
            lm_call["total_s"],
            ml_call["total_s"],
        ),
        Row(
            f"log_metrics, {sizes.batch_total:,} in batches of {sizes.batch_size:,} (until durable)",
            r["loopml/log_batch"]["total_s"],
            r["mlflow/log_batch"]["total_s"],
            GOALS["log_batch"],
        ),
        Row(
            f"create {sizes.runs:,} runs, 2 params + 1 metric each",
            r["loopml/create_runs"]["total_s"],
            r["mlflow/create_runs"]["total_s"],
        ),
        Row(
            f"search {sizes.search_runs:,} runs, ≤ {sizes.search_limit:,} back (median of "
            f"{sizes.search_repeats})",
            r["loopml/search"]["search_s"],
            r["mlflow/search"]["search_s"],
            GOALS["search"],
        ),
        Row(
            f"populate {sizes.search_runs:,} runs for the search (not a goal)",
            r["loopml/search"]["populate_s"],
            r["mlflow/search"]["populate_s"],
        ),
    ]


TABLE_HEADER = ("Workload", "loopml", "MLflow", "MLflow / loopml", "Goal", "Met")


def table_cells(rows: Sequence[Row]) -> list[list[str]]:
    return [
        [
            row.label,
            fmt_duration(row.loopml_s),
            fmt_duration(row.mlflow_s),
            fmt_ratio(row.ratio),
            row.goal_text(),
            row.met_text(),
        ]
        for row in rows
    ]


def details(r: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The figures behind the table a careful reader will want: tails, flushes, MLflow's async mode."""
    lm_call, ml_call, ml_async = r["loopml/log_metric"], r["mlflow/log_metric"], r["mlflow/log_metric_async"]

    def calls(x: Mapping[str, Any], synchronous: bool = False) -> str:
        spread = f"mean {x['mean_us']:,.1f} µs, p50 {x['p50_us']:,.1f} µs, p99 {x['p99_us']:,.1f} µs per call"
        if synchronous:  # each call returns once written: there is nothing to flush
            return f"{spread}; all calls {fmt_duration(x['total_s'])}, nothing left to flush"
        return (
            f"{spread}; calls {fmt_duration(x['calls_s'])} + flush {fmt_duration(x['flush_s'])} = "
            f"{fmt_duration(x['total_s'])}"
        )

    def searches(x: Mapping[str, Any]) -> str:
        return ", ".join(fmt_duration(t) for t in x["search_all_s"]) + f" ({x['count']:,} runs)"

    return [
        f"log_metric, loopml: {calls(lm_call)}",
        f"log_metric, MLflow (synchronous, the default): {calls(ml_call, synchronous=True)}",
        f"log_metric, MLflow with `synchronous=False` then `mlflow.flush_async_logging()`, for context: "
        f"{calls(ml_async)}; against it, loopml's per-call mean is "
        f"{fmt_ratio(ratio(ml_async['mean_us'], lm_call['mean_us']))} and its total "
        f"{fmt_ratio(ratio(ml_async['total_s'], lm_call['total_s']))}",
        f"search, each of the repeats: loopml {searches(r['loopml/search'])}; "
        f"MLflow {searches(r['mlflow/search'])}",
        f"SQLite journal as each tool left it: loopml `{lm_call['journal_mode']}`, MLflow "
        f"`{ml_call['journal_mode']}`. loopml opens SQLite in WAL mode with `synchronous=NORMAL` (a commit "
        "survives a crash of the process; a power cut can lose the last few); MLflow keeps SQLite's defaults "
        "(rollback journal, `synchronous=FULL`, fsync on every commit), which weighs on its every write.",
    ]


def print_report(rows: Sequence[Row], notes: Sequence[str], warnings: Sequence[str]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # rich is a loopml dependency, but a plain table will do
        print(markdown_table(TABLE_HEADER, table_cells(rows)))
        for line in [*notes, *(f"WARNING: {w}" for w in warnings)]:
            print(f"- {line}")
        return
    console = Console()
    console.width = max(console.width, 120)  # a log or a pipe reports 80 columns: too narrow for the table
    table = Table(title="loopml vs MLflow (SQLite): tracking")
    for i, name in enumerate(TABLE_HEADER):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row, cells in zip(rows, table_cells(rows), strict=True):
        style = {"yes": "green", "NO": "bold red"}.get(row.met_text(), "")
        table.add_row(*cells[:-1], f"[{style}]{cells[-1]}[/]" if style else cells[-1])
    console.print(table)
    for line in notes:
        console.print(f"  • {line}", highlight=False)
    for warning in warnings:
        console.print(f"[bold yellow]WARNING:[/] {warning}", highlight=False)


def results_section(
    quick: bool,
    r: Mapping[str, Mapping[str, Any]],
    rows: Sequence[Row],
    notes: Sequence[str],
    warnings: Sequence[str],
) -> str:
    m = machine_info()
    lm, ml = r["loopml/log_metric"], r["mlflow/log_metric"]
    command = ".venv/bin/python bench/tracking.py" + (" --quick" if quick else "")
    smoke = " (smoke run: every size ÷ 10; not the reference figures)" if quick else ""
    lines = [
        f"- Date: {utc_now()}",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM; Python {m['python']}; {m['os']}",
        f"- Versions: loopml {lm['version']} (Python {lm['python']}, SQLite {lm['sqlite']}); "
        f"MLflow {ml['version']} (`{MLFLOW_REQUIREMENT}` in `bench/.venvs/mlflow`, Python {ml['python']}, "
        f"SQLite {ml['sqlite']}, tracking URI `sqlite:///…/mlflow.db`)",
        f"- Command: `{command}`{smoke}",
        "- Method: one run; each tool and workload in a fresh subprocess on a fresh SQLite database; "
        "setup (schema creation, first imports, a warm-up run) untimed; times until the data is durable "
        "unless the row says otherwise. Ratio = MLflow's time / loopml's.",
        "",
        markdown_table(TABLE_HEADER, table_cells(rows)),
        "",
        *(f"- {note}" for note in notes),
        *(f"- **WARNING**: {w}" for w in warnings),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="every size ÷ 10: a smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the databases under bench/.work/")
    parser.add_argument("--no-write", action="store_true", help="print the table but leave RESULTS.md alone")
    args = parser.parse_args(argv)
    sizes = Sizes.quick() if args.quick else Sizes.full()

    mlflow_python = ensure_venv("mlflow", [MLFLOW_REQUIREMENT])
    session = fresh_dir(WORK_DIR, "tracking-")
    print(f"workers, data and raw results in {session.relative_to(REPO_DIR)}")
    results = run_all(sizes, session, mlflow_python, keep=args.keep)

    data = json.loads((session / "search-data.json").read_text())
    warnings = check_search(results, expected_f1s([(m, f) for m, f in data], sizes.search_limit))
    rows = build_rows(sizes, results)
    notes = details(results)
    print_report(rows, notes, warnings)
    if not args.no_write:
        write_results_section(RESULTS_HEADING, results_section(args.quick, results, rows, notes, warnings))
        print(f"wrote {RESULTS_FILE.relative_to(REPO_DIR)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
