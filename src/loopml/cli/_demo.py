"""``loopml demo``: real work on generated data, end to end, in well under two minutes on 2 cores.

It stores generated sensor data as a dataset version (checked and profiled), then runs a training pipeline on
it: a stratified split, a small tuning study, a baseline and the tuned model trained (per-fold metrics logged)
and evaluated, every step a tracked child run of the pipeline run. It runs the pipeline a second time, which
the cache answers. Then it registers both models, evaluates them on the held-out split (per site), and lets a
gate decide which one is the champion. Then it serves the champion over HTTP on localhost, sends it requests
and labels, and reads the prediction log back. Last, it monitors the champion's deployment over simulated days
of traffic whose sensors drift, with labels that arrive late, while the agent runs the closed loop
(``_demo_monitor``): the drift is found in the right window, F1 falls once the labels land, its alert starts a
retrain, the candidate passes its gate, takes its canary steps and is promoted; a candidate trained on a
broken export is rejected by the gate. It ends with the loop's timeline and the report.
"""

from __future__ import annotations

import time
from typing import Any

import typer

from loopml.cli._app import app
from loopml.cli._output import console, fmt_number, table

EXPERIMENT = "demo-failure-prediction"
DATASET = "demo-sensors"
SENSORS = ("temperature", "vibration", "pressure", "rpm", "voltage", "current", "humidity", "torque")


def make_sensor_data(n_rows: int = 6000, seed: int = 7) -> Any:
    """Readings of machines, of which some fail soon after: a binary classification task."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=n_rows,
        n_features=len(SENSORS) + 12,
        n_informative=8,
        n_redundant=4,
        weights=[0.8, 0.2],
        flip_y=0.02,
        class_sep=0.9,
        random_state=seed,
    )
    columns = [*SENSORS, *(f"sensor_{i:02d}" for i in range(12))]
    frame = pd.DataFrame(x, columns=columns)
    frame.insert(0, "machine_id", np.random.default_rng(seed).integers(1, 51, size=n_rows))
    frame["failure"] = y
    return frame


def demo_checks() -> list[Any]:
    from loopml.data import checks as C

    return [
        C.row_count(min=1000),
        C.not_null("machine_id"),
        C.in_range("machine_id", 1, 50),
        C.in_set("failure", [0, 1]),
        C.max_null_fraction("temperature", 0.01),
        C.has_column("rpm", "float"),
    ]


MODEL = "failure-predictor"
GATE_RULES = [
    "f1 >= baseline - 0.01",
    "roc_auc >= 0.85",
    "latency.p95_ms <= 500",
    "max_slice_drop(f1, site) <= 0.1",
]


def _register_and_gate(run: Any, sensors: Any, quiet: bool) -> str:
    """Register both models of the run, and let the gate decide which one is the champion."""
    import loopml as lm

    prepared = run.output("prepare")
    holdout = prepared[prepared["is_test"]].drop(columns=["is_test"])
    holdout.insert(1, "site", "site-" + (holdout["machine_id"] % 5 + 1).astype(str))
    holdout_version = lm.data.add(f"{DATASET}-holdout", holdout, description="The held-out split, by site.")
    example = prepared.drop(columns=["machine_id", "failure", "is_test"]).head(5)
    lines = []
    for node, label in (("train", "the random-forest baseline"), ("train_2", "the tuned gradient boosting")):
        version = lm.register_model(
            MODEL,
            run.output(node),
            input_example=example,
            data=sensors,
            run=run.step(node).run_id,
            description="Predicts which machines fail soon, from their sensor readings.",
            tags={
                "card.intended_use": "Ranking machines for inspection; a person decides on the inspection.",
                "card.limitations": "Trained on generated data from 50 machines; not for other fleets.",
            },
            reason=f"{label}, trained by the demo pipeline",
        )
        outcome = lm.gate(
            version,
            f"{MODEL}@champion",
            holdout_version,
            GATE_RULES,
            target="failure",
            promote="champion",
            reason=f"demo: gate of {label}",
        )
        against = outcome.baseline.ref if outcome.baseline else "no champion yet"
        verdict = "passed" if outcome.passed else "failed"
        lines.append(f"{version.ref} ({label}) {verdict} the gate against {against}")
        if not quiet:
            table(
                f"Gate: {version.ref} against {against}",
                ["Rule", "Result", "Detail"],
                [(r.rule, "pass" if r.passed else "FAIL", r.reason) for r in outcome.decision.results],
            )
    champion = lm.get_model_version(f"{MODEL}@champion")
    for line in lines:
        console.print(line, highlight=False)
    console.print(
        f"Champion: [bold]{champion.ref}[/] (test F1 {champion.metrics.get('f1', float('nan')):.3f})."
    )
    return f"{MODEL}@champion"


def _serve_and_send(ref: str, quiet: bool, requests: int = 200) -> None:
    """Serve the champion over real HTTP on localhost, send it single-row requests and their labels, and read
    the prediction log back."""
    import socket
    import statistics
    import threading

    import httpx
    import uvicorn

    import loopml as lm
    from loopml.monitoring import read_labels, read_predictions
    from loopml.serving import ModelServer, ServedModel, ServerOptions

    holdout = lm.data.load(f"{DATASET}-holdout@latest")
    server = ModelServer(ServedModel.load(ref), ServerOptions(reload_interval=0))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uv = uvicorn.Server(uvicorn.Config(server.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=uv.run, name="loopml-demo-server", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    latencies, labels, agree = [], {}, 0
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            for _ in range(600):
                if uv.started:
                    break
                threading.Event().wait(0.05)
            features = holdout.drop(columns=["failure"])
            expected = server.served.model.predict(features.head(requests))
            for i in range(min(requests, len(holdout))):
                row = features.iloc[[i]]
                body = {"dataframe_split": {"columns": list(row.columns), "data": row.to_numpy().tolist()}}
                started = time.perf_counter()
                response = http.post("/invocations", json=body)
                latencies.append((time.perf_counter() - started) * 1000)
                response.raise_for_status()
                agree += int(response.json()["predictions"][0] == expected[i])
                labels[response.headers["x-request-id"]] = int(holdout["failure"].iloc[i])
            http.post("/labels", json={"labels": labels}).raise_for_status()
            metrics = http.get("/metrics").text
    finally:
        uv.should_exit = True
        thread.join(timeout=60)
    from loopml.tracking import get_client

    client = get_client()
    name = server.served.name
    logged = read_predictions(client.store, client.artifacts, name)
    labelled = read_labels(client.store, name)
    latencies.sort()
    console.print(
        f"Served {server.served.name}:{server.served.version} on {url}: "
        f"{len(latencies)} single-row requests, "
        f"p50 {statistics.median(latencies):.1f} ms, p99 {latencies[int(len(latencies) * 0.99) - 1]:.1f} ms; "
        f"{agree} answers equal to the model's own; {len(logged)} rows in the prediction log, "
        f"{len(labelled)} labels joined by request id.",
        highlight=False,
        soft_wrap=True,
    )
    if not quiet:
        served = [line for line in metrics.splitlines() if line.startswith("loopml_requests_total")]
        console.print("Prometheus: " + "; ".join(served), highlight=False)


@app.command("demo")
def demo_cmd(quiet: bool = typer.Option(False, "--quiet", "-q", help="Only print the summary.")) -> None:
    """Train failure predictors on generated sensor data through a cached pipeline with a tuning study."""
    import loopml as lm

    started = time.perf_counter()
    settings = lm.get_settings()
    console.print(
        f"[bold]loopml demo[/]: metadata in {settings.database_url}, blobs in {settings.artifact_root}"
    )
    data = make_sensor_data()
    sensors = lm.data.add(
        DATASET,
        data,
        checks=demo_checks(),
        description="Generated readings of 50 machines; failure is the label.",
    )
    assert sensors.checks is not None
    passed = sum(r["passed"] for r in sensors.checks["results"])
    console.print(
        f"Generated {len(data):,} sensor readings from 50 machines ({data['failure'].mean():.0%} fail), "
        f"stored as dataset version [bold]{sensors.ref}[/] ({sensors.digest[:12]}): "
        f"{passed} of {len(sensors.checks['results'])} checks passed, profile stored."
    )
    temperature = lm.data.profile(sensors)["temperature"]
    console.print(
        f"Profile of temperature: mean {temperature.mean:.2f}, std {temperature.std:.2f}, "
        f"median {temperature.quantiles((0.5,))[0.5]:.2f}, ~{temperature.distinct:,} distinct values.",
        highlight=False,
    )
    from loopml.cli._demo_pipeline import failure_training
    from loopml.cli._pipeline import live_view, steps_table

    console.print(
        "Running the [bold]failure_training[/] pipeline: prepare, a tuning study of 8 trials, "
        "a baseline and the tuned model, each trained and evaluated."
    )
    with live_view(quiet) as on_event:
        first = failure_training.run({"dataset": sensors.ref}, on_event=on_event)
    if not quiet:
        console.print(steps_table(first))
    scores = {
        label: first.output(node)
        for label, node in (("rf-baseline", "evaluate"), ("gbm-tuned", "evaluate_2"))
    }
    tuned_params = first.output("tune_gbm")
    table(
        "Models of this run, best test F1 first",
        ["Model", "Test F1", "Test AUC", "Test accuracy"],
        [
            (label, f"{s['test_f1']:.3f}", f"{s['test_roc_auc']:.3f}", f"{s['test_accuracy']:.3f}")
            for label, s in sorted(scores.items(), key=lambda kv: -kv[1]["test_f1"])
        ],
    )
    console.print(
        "Tuned parameters: " + ", ".join(f"{k}={fmt_number(float(v))}" for k, v in tuned_params.items()),
        highlight=False,
    )
    again = time.perf_counter()
    second = failure_training.run({"dataset": sensors.ref})
    console.print(
        f"Ran it again: {len(second.cached_steps)} of {len(second.steps)} steps from cache, "
        f"in {time.perf_counter() - again:.2f}s (run {second.id[:8]}).",
        highlight=False,
    )
    champion = _register_and_gate(first, sensors, quiet)
    _serve_and_send(champion, quiet)
    from loopml.cli._demo_monitor import run_monitoring

    holdout = lm.data.load(f"{DATASET}-holdout@latest")
    run_monitoring(
        champion, holdout, SENSORS, "failure", settings.home, quiet, now_ms=int(time.time() * 1000)
    )
    best = max(scores, key=lambda label: scores[label]["test_f1"])
    console.print(
        f"Best: [bold]{best}[/] (test F1 {fmt_number(scores[best]['test_f1'])}). "
        f"Finished in {time.perf_counter() - started:.1f}s."
    )
    console.print(
        f"Next: [cyan]loopml models card {champion}[/], [cyan]loopml models history {MODEL}[/], "
        f"[cyan]loopml pipeline show {first.id}[/], [cyan]loopml monitor windows failure-predictor-daily[/], "
        f"[cyan]loopml doctor[/]"
    )
