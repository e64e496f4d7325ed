"""loopml's ``lm.drift`` side by side with Evidently's ``DataDriftPreset``, on the same data, in one run.

    .venv/bin/python bench/drift.py [--quick] [--keep] [--no-write] [--repeats N] [--only SECTION ...]
                                    [--no-monitoring] [--stream-rows-per-day N] [--stream-days N]

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
its table rows and notes; ``--only`` runs some of them. Two measure the monitoring layer, loopml alone
(Evidently keeps no prediction log), in loopml's venv, on a fresh loopml home each (SQLite and local blobs,
``LOOPML_HOME``); ``--no-monitoring`` skips them (they take about 10 minutes):

- ``streaming``: a classifier (20 numeric and 5 categorical inputs, 3 classes) registered and evaluated on
  a held-out dataset version, two monitors added (the default one, whose reference is that evaluation's
  dataset with its target, so windows get CBPE estimates and, once labels come, realised metrics; and one
  of the features and prediction only), then 10,000,000 rows (``--quick``: 1,000,000) logged over 10
  simulated days through the real ``PredictionLogger`` (explicit timestamps, injected clock, requests of
  10 rows, a DataFrame each, with outputs and class probabilities; one flush per simulated hour), then
  ``check_monitor`` over all of it (10 day-windows) in a fresh process per monitor, whose own peak RSS
  (``ru_maxrss``) is the figure; then every request labelled and the default monitor checked again.
  Goal: peak under 1 GB. Logging throughput is the time spent in ``log`` and ``flush``.
  ``--stream-rows-per-day`` and ``--stream-days`` change the traffic (say 2,000,000 a day for 5 days: a
  check's peak must not grow with a window's rows).
- ``day-window``: one day of 1,000,000 logged rows (``--quick``: 100,000) in 24 hourly segments, then
  ``check_monitor(force=True)`` of that one window, once untimed and ``--repeats`` times timed in one warm
  process, for each monitor, and for the default one again once every request has its label. Goal: under
  1 s from the stored segment profiles (the monitor of features and prediction, which reads no row).
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
import time
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


# -- the monitoring worker: logs a model's traffic into a fresh loopml home, or checks it (loopml's venv)

MONITOR_WORKER = '''"""The drift bench's monitoring worker (written by bench/drift.py): log a classifier's
simulated traffic through the real PredictionLogger into the loopml home of LOOPML_HOME, or check its
monitors there."""

import json
import os
import resource
import sys
import time

import numpy as np
import pandas as pd

REQ = json.loads(sys.argv[1])
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MODEL = "bench-monitor"
NUMERIC = [f"x{i:02d}" for i in range(20)]
CATEGORIES = {f"c{i}": [f"c{i}_{v:02d}" for v in range(n)] for i, n in enumerate((3, 5, 8, 12, 30))}


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1024**2


def world(rng, n, shift=0.0):
    """``n`` rows of the model's inputs (20 numbers, 5 categories as strings) and their true class;
    ``shift``: x00 moves by that many standard deviations."""
    x = rng.normal(0.0, 1.0, (n, len(NUMERIC)))
    x[:, 0] += shift
    x[:, 1:6] = np.exp(x[:, 1:6] * 0.5)  # some skewed
    frame = pd.DataFrame(x * (1 + np.arange(len(NUMERIC))) + 10 * np.arange(len(NUMERIC)), columns=NUMERIC)
    for name, values in CATEGORIES.items():
        weights = 1.0 / np.arange(1, len(values) + 1)
        codes = rng.choice(len(values), n, p=weights / weights.sum())
        frame[name] = np.asarray(values, dtype=object)[codes]
    score = x[:, 0] + 0.5 * x[:, 3] - 0.7 * x[:, 7] + (frame["c0"] == "c0_01").to_numpy()
    noisy = score + rng.normal(0.0, 1.0, n)
    target = np.where(noisy < -0.5, "low", np.where(noisy < 0.8, "mid", "high"))
    return frame, target


def setup():
    """A registered classifier (one-hot categories, logistic regression, 3 classes) evaluated on a held-out
    dataset version (the monitor's default reference), and its monitors, added before any traffic."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    import loopml as lm
    from loopml.monitoring import add_monitor

    rng = np.random.default_rng(REQ["seed"])
    x, y = world(rng, 20_000)
    encode = ColumnTransformer(
        [("categories", OneHotEncoder(handle_unknown="ignore"), list(CATEGORIES))], remainder="passthrough"
    )
    model = make_pipeline(encode, LogisticRegression(max_iter=500)).fit(x, y)
    lm.register_model(MODEL, model, input_example=x.head())
    hx, hy = world(rng, REQ["holdout_rows"])
    holdout = lm.data.add(f"{MODEL}-holdout", hx.assign(target=hy))
    lm.evaluate(f"{MODEL}:1", holdout, target="target")
    clock = lambda: T0 / 1000  # noqa: E731
    # the default monitor: the evaluation's dataset as reference, its target, CBPE from the probabilities
    add_monitor("default", MODEL, window="1d", clock=clock)
    # features and prediction only (a reference without the target): every window from its profiles
    add_monitor("profiles", MODEL, window="1d", reference=hx, clock=clock)
    return model


def log_traffic():
    from loopml.monitoring import PredictionLogger
    from loopml.tracking import get_client

    t_setup = time.perf_counter()
    model = setup()
    setup_s = time.perf_counter() - t_setup
    client = get_client()
    rng = np.random.default_rng(REQ["seed"] + 1)
    per_request = REQ["rows_per_request"]
    classes = [str(c) for c in model.classes_]
    labels = {} if REQ.get("labels") else None
    log_s = log_cpu = gen_s = 0.0
    rows = requests = 0
    now = [T0 / 1000]
    logger = PredictionLogger(
        client.store,
        client.artifacts,
        model=MODEL,
        max_rows_per_segment=REQ["max_rows_per_segment"],
        flush_interval=3600.0,  # simulated hours: each hour is flushed when it ends
        clock=lambda: now[0],
    )
    start = time.perf_counter()
    for day in range(REQ["days"]):
        shift = REQ["shift"] if day >= REQ["shift_from_day"] else 0.0
        hours = np.diff(np.linspace(0, REQ["rows_per_day"], 25).round().astype(int))
        for hour, n in enumerate(int(h) for h in hours):
            t0 = time.perf_counter()
            x, y = world(rng, n, shift)
            predicted, proba = model.predict(x), model.predict_proba(x)
            starts = range(0, n, per_request)
            # what a server hands the logger: each request's rows (a DataFrame), outputs and probabilities
            parts = [(x.iloc[i : i + per_request], predicted[i : i + per_request], proba[i : i + per_request])
                     for i in starts]
            if labels is not None:  # a label is per request: its first row's class
                labels.update({f"d{day}-h{hour}-{j}": str(y[i]) for j, i in enumerate(starts)})
            hour_ms = T0 + day * DAY_MS + hour * HOUR_MS
            step = HOUR_MS // max(1, len(parts))
            gen_s += time.perf_counter() - t0
            t0, c0 = time.perf_counter(), time.process_time()
            for j, (inputs, outputs, probabilities) in enumerate(parts):
                accepted = logger.log(
                    request_id=f"d{day}-h{hour}-{j}",
                    model_version=1,
                    route="champion",
                    inputs=inputs,
                    outputs=outputs,
                    probabilities=probabilities,
                    classes=classes,
                    latency_ms=3.0 + j % 7,
                    timestamp_ms=hour_ms + j * step,
                )
                if not accepted:
                    raise RuntimeError("the prediction log refused a request")
            now[0] = (hour_ms + HOUR_MS) / 1000
            logger.flush()
            log_s += time.perf_counter() - t0
            log_cpu += time.process_time() - c0
            rows += n
            requests += len(parts)
    logger.close()
    total_s = time.perf_counter() - start
    if labels is not None:
        with open(REQ["labels"], "w") as f:
            json.dump(labels, f)
    segments = client.store.predictions.segments(MODEL, None, None)
    profiled = [s for s in segments if s.profile_digest is not None]
    return {
        "rows": rows,
        "requests": requests,
        "written": logger.written_rows,
        "dropped": logger.dropped,
        "segments": len(segments),
        "profiled_segments": len(profiled),
        "segment_digests": sorted({s.digest for s in segments}),
        "profile_digests": sorted({s.profile_digest for s in profiled}),
        "setup_s": setup_s,
        "log_s": log_s,
        "log_cpu_s": log_cpu,
        "generate_s": gen_s,
        "total_s": total_s,
        "peak_rss_mb": peak_rss_mb(),
    }


def add_labels():
    from loopml.monitoring import log_labels
    from loopml.tracking import get_client

    with open(REQ["labels"]) as f:
        labels = json.load(f)
    t0 = time.perf_counter()
    count = log_labels(get_client().store, MODEL, labels, at_ms=REQ["now_ms"] - 60_000)
    return {"labels": count, "elapsed_s": time.perf_counter() - t0}


def _summary(windows):
    windows = sorted((w for w in windows if w.slice == ""), key=lambda w: w.start_ms)
    return {
        "windows": len(windows),
        "rows": sum(w.metrics["rows"] for w in windows),
        "drifted_x00": [w.metrics.get("drifted(x00)") for w in windows],
        "drift_share": [w.metrics.get("drift_share") for w in windows],
        "label_coverage": [w.metrics.get("label_coverage") for w in windows],
        "estimated_accuracy": [w.metrics.get("estimated.accuracy") for w in windows],
        "methods": sorted(
            {c["method"] for w in windows for c in w.details.get("drift", {}).get("columns", {}).values()}
        ),
        "counts": sorted({str(w.details.get("counts", "rows")) for w in windows}),
    }


def check_all():
    """One check of a monitor over everything logged, in a fresh process: what cron runs."""
    from loopml.monitoring import check_monitor
    from loopml.tracking import get_client

    get_client().store.monitors.list()  # the store opened before the clock starts
    before = rss_mb()
    t0, c0 = time.perf_counter(), time.process_time()
    outcome = check_monitor(REQ["monitor"], force=REQ.get("force", False), clock=lambda: REQ["now_ms"] / 1000)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"elapsed_s": elapsed, "cpu_s": cpu, "rss_before_mb": before, "peak_rss_mb": peak_rss_mb(),
            **_summary(outcome.computed)}


def time_window():
    """check_monitor(force=True) of the one day-window, each monitor once untimed, then timed repeats, in
    one warm process; then the same for the default monitor once every request has its label."""
    from loopml.monitoring import check_monitor, log_labels
    from loopml.tracking import get_client

    client = get_client()
    clock = lambda: REQ["now_ms"] / 1000  # noqa: E731

    def timed(name):
        first = time.perf_counter()
        check_monitor(name, force=True, clock=clock)  # untimed: lazy imports, caches
        first = time.perf_counter() - first
        times, cpu = [], []
        for _ in range(REQ["repeats"]):
            t0, c0 = time.perf_counter(), time.process_time()
            outcome = check_monitor(name, force=True, clock=clock)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        return {"first_s": first, "times_s": times, "cpu_s": cpu, "peak_rss_mb": peak_rss_mb(),
                **_summary(outcome.computed)}

    out = {"profiles": timed("profiles"), "default": timed("default")}
    with open(REQ["labels"]) as f:
        labels = json.load(f)
    log_labels(client.store, MODEL, labels, at_ms=REQ["now_ms"] - 60_000)
    out["labelled"] = timed("default")
    return out


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore")
    work = {"log": log_traffic, "labels": add_labels, "check": check_all, "window": time_window}
    print(json.dumps(work[REQ["workload"]]()))
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
    evidently_python: Path | None  # None when no section runs Evidently
    rows: int
    repeats: int
    quick: bool
    raw: dict[str, Any] = field(default_factory=dict)  # each section's raw results, saved as results.json
    stream_rows_per_day: int | None = None  # the streaming section's traffic (None: its default)
    stream_days: int | None = None

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
    assert ctx.evidently_python is not None
    assert ctx.evidently_python is not None
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
    assert ctx.evidently_python is not None
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


# -- the monitoring sections: the prediction log and its monitors, in loopml alone (Evidently has neither)

STREAM_ROWS = 10_000_000  # "streaming over 10 million logged rows keeps peak memory under 1 GB"
STREAM_DAYS = 10  # a day-window of a million rows each
MEMORY_GOAL_MB = 1000.0
WINDOW_ROWS = 1_000_000  # "checking one day-window of 1 million rows ... takes under 1 s"
WINDOW_GOAL_S = 1.0
ROWS_PER_REQUEST = 10  # a server logs requests of several rows too (and 10M one-row DataFrames take ~25 min)
HOLDOUT_ROWS = 5_000  # the evaluation's dataset: above 1,000 rows, so every column is compared by profiles
T0_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the simulated traffic's first day
DAY_MS = 86_400_000
CHECKED_AT_MS = 5 * 60_000  # the check runs five minutes after the last day ends


def _monitor_run(ctx: Context, home: Path, request: Mapping[str, Any]) -> dict[str, Any]:
    """Run the monitoring worker in a fresh process of loopml's venv on the home ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    env["LOOPML_HOME"] = str(home)
    print(
        f"  monitor {request['workload']}{' ' + request['monitor'] if 'monitor' in request else ''}",
        flush=True,
    )
    got = run_worker(
        LOOPML_PYTHON, ctx.session / "monitor_worker.py", request, cwd=ctx.session, env=env, timeout_s=3600
    )
    return got


def _blobs_mb(home: Path, digests: Sequence[str]) -> float:
    """The size of these blobs in the home's local artifact store (``objects/ab/cdef...``)."""
    objects = home / "artifacts" / "objects"
    return sum((objects / d[:2] / d[2:]).stat().st_size for d in digests) / 1e6


def _mb(value: float) -> str:
    return f"{value:,.0f} MB"


def _logged(what: str, got: Mapping[str, Any], home: Path) -> str:
    rate = got["rows"] / got["log_s"]
    data_mb = _blobs_mb(home, got["segment_digests"])
    profiles_mb = _blobs_mb(home, got["profile_digests"])
    return (
        f"{what}: {got['rows']:,} rows in {got['requests']:,} requests of {ROWS_PER_REQUEST} rows through "
        f"`PredictionLogger.log` (a DataFrame each, with outputs and 3 class probabilities) and one flush at "
        f"the end of each simulated hour: {fmt_duration(got['log_s'])} in the logger (CPU "
        f"{fmt_duration(got['log_cpu_s'])}, its writer thread included), **{rate:,.0f} rows/s** "
        f"({got['requests'] / got['log_s']:,.0f} requests/s); {got['segments']:,} segments, "
        f"{got['profiled_segments']:,} with profiles: {data_mb:,.0f} MB of Parquet segments and "
        f"{profiles_mb:,.0f} MB of their profiles (JSON); peak RSS of the logging "
        f"process {_mb(got['peak_rss_mb'])}; generating and predicting the traffic (untimed) took "
        f"{fmt_duration(got['generate_s'])}, the model and its evaluation {fmt_duration(got['setup_s'])}."
    )


def streaming(ctx: Context) -> SectionResult:
    """10,000,000 logged rows over 10 simulated days, checked at once: the checking process's peak RSS."""
    start = time.perf_counter()
    days = ctx.stream_days or STREAM_DAYS
    per_day = ctx.stream_rows_per_day or STREAM_ROWS // STREAM_DAYS // (10 if ctx.quick else 1)
    print(f"streaming: {per_day * days:,} logged rows over {days} days")
    home = fresh_dir(ctx.session, "stream-home-")
    labels = ctx.session / "stream-labels.json"
    now_ms = T0_MS + days * DAY_MS + CHECKED_AT_MS
    logged = _monitor_run(
        ctx,
        home,
        {
            "workload": "log",
            "seed": SEED + 10,
            "holdout_rows": HOLDOUT_ROWS,
            "days": days,
            "rows_per_day": per_day,
            "rows_per_request": ROWS_PER_REQUEST,
            "max_rows_per_segment": 10_000,  # the logger's default
            "shift": 0.5,
            "shift_from_day": days // 2,
            "labels": str(labels),
        },
    )
    log_note = _logged("Streaming, logging", logged, home)
    checks = {}
    for monitor in ("default", "profiles"):
        checks[monitor] = _monitor_run(ctx, home, {"workload": "check", "monitor": monitor, "now_ms": now_ms})
    added = _monitor_run(ctx, home, {"workload": "labels", "labels": str(labels), "now_ms": now_ms})
    checks["labelled"] = _monitor_run(
        ctx, home, {"workload": "check", "monitor": "default", "force": True, "now_ms": now_ms}
    )
    elapsed = time.perf_counter() - start
    logged = {k: v for k, v in logged.items() if not k.endswith("_digests")}
    ctx.raw["streaming"] = {"log": logged, "labels": added, "checks": checks, "elapsed_s": elapsed}
    shutil.rmtree(home)

    size = f"{logged['rows']:,} logged rows, {days} day-windows of {per_day:,}"
    what = {
        "default": "the default monitor (reference: the evaluation's dataset; target, CBPE), no labels yet",
        "profiles": "features and prediction only (a reference without target): from the profiles",
        "labelled": "the default monitor, every request labelled (forced again)",
    }
    table: list[Row] = []
    ok = True
    for key, got in checks.items():
        met = got["peak_rss_mb"] < MEMORY_GOAL_MB and got["rows"] == logged["rows"]
        ok = ok and got["windows"] == days and got["rows"] == logged["rows"]
        table.append(
            Row(
                f"{size}: peak RSS of one `check_monitor` over all of them, in its own process: {what[key]}",
                _mb(got["peak_rss_mb"]),
                "—",
                goal=f"< {MEMORY_GOAL_MB:,.0f} MB",
                met=met,
            )
        )
    table.append(
        Row(
            f"{size}: logging throughput through `PredictionLogger` ({ROWS_PER_REQUEST} rows a request)",
            f"{logged['rows'] / logged['log_s']:,.0f} rows/s",
            "—",
        )
    )

    def shown(values: Sequence[Any]) -> str:
        return ", ".join("—" if v is None else f"{v:g}" for v in values)

    notes = [
        log_note,
        "Streaming, the model: a scikit-learn pipeline (one-hot categories, logistic regression, 3 classes) "
        f"of 20 numeric and 5 categorical inputs, registered with an input example and evaluated "
        f"(`lm.evaluate`) on a held-out dataset version of {HOLDOUT_ROWS:,} rows (more than 1,000, so every "
        "column goes by profiles); two monitors added before the traffic, window `1d`. The traffic: "
        f"x00 shifted by 0.5 sd from day {days // 2} on; timestamps explicit, the logger's clock "
        "injected, segments of at most 10,000 rows (its default) that never cross an hour.",
        "Streaming, each check: "
        + "; ".join(
            f"{key}: {fmt_duration(got['elapsed_s'])} (CPU {fmt_duration(got['cpu_s'])}) for "
            f"{got['windows']} windows ({got['rows']:,.0f} rows in all), RSS {_mb(got['rss_before_mb'])} "
            f"with loopml imported and the store open, peak {_mb(got['peak_rss_mb'])}; drifted(x00) per day "
            f"{shown(got['drifted_x00'])}; drift by {', '.join(got['methods'])}; counts from "
            f"{', '.join(got['counts'])}"
            for key, got in checks.items()
        )
        + ".",
        f"Streaming, labels: {added['labels']:,} labels (one per request) recorded with `log_labels` in "
        f"{fmt_duration(added['elapsed_s'])}; label coverage per window afterwards "
        f"{shown(checks['labelled']['label_coverage'])}.",
        "Streaming, method: peak RSS is the checking process's own `ru_maxrss` (`getrusage(RUSAGE_SELF)` "
        "as it ends; interpreter and imports included). A check computes the windows one after the other; "
        "what it holds at once is one window's merged segment profiles and, when the monitor has a target "
        "(label lookup) or probabilities (CBPE), one segment's blob and one batch of its rows (at most "
        "65,536) with what they add up to (counts, sums, score bins; the rows themselves up to 100,000). "
        f"The whole section took {fmt_duration(elapsed)} on this machine.",
    ]
    return SectionResult(table, notes, ok)


def day_window(ctx: Context) -> SectionResult:
    """One day of 1,000,000 logged rows in 24 hourly segments: `check_monitor` of that window, timed."""
    start = time.perf_counter()
    rows = WINDOW_ROWS // (10 if ctx.quick else 1)
    print(f"day-window: {rows:,} logged rows in 24 hourly segments")
    home = fresh_dir(ctx.session, "window-home-")
    labels = ctx.session / "window-labels.json"
    logged = _monitor_run(
        ctx,
        home,
        {
            "workload": "log",
            "seed": SEED + 20,
            "holdout_rows": HOLDOUT_ROWS,
            "days": 1,
            "rows_per_day": rows,
            "rows_per_request": ROWS_PER_REQUEST,
            "max_rows_per_segment": rows,  # one segment an hour
            "shift": 0.0,
            "shift_from_day": 1,
            "labels": str(labels),
        },
    )
    log_note = _logged("Day-window, logging", logged, home)
    got = _monitor_run(
        ctx,
        home,
        {
            "workload": "window",
            "repeats": ctx.repeats,
            "labels": str(labels),
            "now_ms": T0_MS + DAY_MS + CHECKED_AT_MS,
        },
    )
    elapsed = time.perf_counter() - start
    logged = {k: v for k, v in logged.items() if not k.endswith("_digests")}
    ctx.raw["day_window"] = {"log": logged, "window": got, "elapsed_s": elapsed}
    shutil.rmtree(home)

    size = f"one day-window of {logged['rows']:,} logged rows in {logged['segments']} hourly segments"
    what = {
        "profiles": "features and prediction only, from the stored segment profiles (no row read)",
        "default": "the default monitor (target, CBPE), no label yet: also streams the window's counts and "
        "probabilities from the segments",
        "labelled": "the default monitor once every request has its label (realised metrics too)",
    }
    table: list[Row] = []
    for key, found in got.items():
        best, med = min(found["times_s"]), median(found["times_s"])
        goal = key == "profiles"
        table.append(
            Row(
                f"{size}: `check_monitor(force=True)`, {what[key]}, best (median) of {ctx.repeats}",
                f"{fmt_duration(best)} ({fmt_duration(med)})",
                "—",
                goal=f"< {WINDOW_GOAL_S:g} s" if goal else "—",
                met=(med < WINDOW_GOAL_S) if goal else None,
            )
        )
    ok = all(found["rows"] == logged["rows"] for found in got.values())
    notes = [
        log_note,
        "Day-window, what a timed check does: reads the monitor and the stored windows, loads the "
        "reference (its profile, and for the default monitor its rows and predictions, and fits CBPE's "
        "calibration on them), lists the window's segments, merges their 24 stored profiles, tests 25 "
        "features and the prediction against the reference's profile (Wasserstein, Jensen-Shannon from the "
        "sketches), stores the window's result and runs the alert manager; with CBPE it also streams the "
        "counts and latencies of every row and the prediction and probabilities, segment by segment; once "
        "the model has labels (the store says whether it has any), every request id too, to look their "
        "labels up, and computes the realised metrics and the target's drift. Each monitor is checked once "
        "untimed in the same process first (imports, caches).",
        "Day-window, each repeat: "
        + "; ".join(
            f"{key}: "
            + ", ".join(
                f"{fmt_duration(t)} (CPU {fmt_duration(c)})"
                for t, c in zip(found["times_s"], found["cpu_s"], strict=True)
            )
            + f", first (untimed) {fmt_duration(found['first_s'])}, "
            f"peak RSS so far {_mb(found['peak_rss_mb'])}"
            for key, found in got.items()
        )
        + f". The whole section took {fmt_duration(elapsed)}.",
        "Day-window, the labels are per request (a label belongs to a request, every row of a batch "
        "request gets it), here each request's first row's class, so the realised accuracy of 10-row "
        "requests means nothing; the timing is what is measured.",
    ]
    return SectionResult(table, notes, ok)


# Each section measures one thing and returns its rows and notes; they run in this order. Add a
# measurement as a function of the Context here.
SECTIONS: dict[str, Callable[[Context], SectionResult]] = {
    "side-by-side": side_by_side,
    "small-pair": small_pair,
    "streaming": streaming,
    "day-window": day_window,
}
MONITORING_SECTIONS = ("streaming", "day-window")


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


def tool_versions(evidently_python: Path | None) -> dict[str, str]:
    code = (
        "import importlib.metadata as m; "
        "print(' '.join(m.version(p) for p in ('evidently', 'pandas', 'scipy', 'numpy')))"
    )
    mine = {p: importlib.metadata.version(p) for p in ("pandas", "scipy", "numpy")}
    versions = {
        "loopml": loopml_version(),
        "evidently": "(not run)",
        "loopml_deps": f"pandas {mine['pandas']}, scipy {mine['scipy']}, numpy {mine['numpy']}",
    }
    if evidently_python is not None:
        out = subprocess.run([str(evidently_python), "-c", code], capture_output=True, text=True, check=True)
        ev, ev_pandas, ev_scipy, ev_numpy = out.stdout.split()
        versions["evidently"] = f"{ev} (pandas {ev_pandas}, scipy {ev_scipy}, numpy {ev_numpy})"
    return versions


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
    parser.add_argument(
        "--no-monitoring",
        action="store_true",
        help=f"skip the monitoring sections ({', '.join(MONITORING_SECTIONS)}: about 10 minutes)",
    )
    parser.add_argument(
        "--stream-rows-per-day",
        type=int,
        default=None,
        help=f"the streaming section's rows a day (default {STREAM_ROWS // STREAM_DAYS:,}; --quick a tenth)",
    )
    parser.add_argument(
        "--stream-days", type=int, default=None, help=f"the streaming section's days (default {STREAM_DAYS})"
    )
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    if repeats < 1:
        parser.error("--repeats must be at least 1")

    compile_loopml()
    names = args.only or [n for n in SECTIONS if not (args.no_monitoring and n in MONITORING_SECTIONS)]
    # the monitoring sections measure loopml alone: Evidently's venv only for the sections that run it
    needs_evidently = any(n not in MONITORING_SECTIONS for n in names)
    evidently_python = ensure_venv(EVIDENTLY_VENV, EVIDENTLY_REQUIREMENTS) if needs_evidently else None
    versions = tool_versions(evidently_python)
    session = fresh_dir(WORK_DIR, "drift-")
    (session / "drift_worker.py").write_text(WORKER)
    (session / "monitor_worker.py").write_text(MONITOR_WORKER)
    print(f"data and raw results in {session.relative_to(REPO_DIR)}")
    load_before = load_average()
    ctx = Context(
        session,
        evidently_python,
        10_000 if args.quick else 100_000,
        repeats,
        args.quick,
        stream_rows_per_day=args.stream_rows_per_day,
        stream_days=args.stream_days,
    )
    rows: list[Row] = []
    notes: list[str] = []
    ok = True
    for name in names:
        result = SECTIONS[name](ctx)
        rows += result.rows
        notes += result.notes
        ok = ok and result.ok
    load = f"load average {load_before} at the start, {load_average()} at the end (a shared machine)"
    (session / "results.json").write_text(json.dumps({"versions": versions, **ctx.raw}, indent=1))

    side_notes = [
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
    ]
    notes = [*(side_notes if {"side-by-side", "small-pair"} & set(names) else []), *notes]
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
