"""loopml's model server side by side with ``mlflow models serve``, serving the same model.

    .venv/bin/python bench/serving.py [--quick] [--keep] [--no-write] [--repeats N] [--duration S]
                                      [--serve-arg=ARG ...]

The model: a RandomForestClassifier of 50 trees, depth 8, fitted once (here, in a fresh process) on 20
numeric features. The same fitted object is registered with loopml (``lm.register_model`` with an input
example, alias ``champion``) and saved with ``mlflow.sklearn.save_model`` (with the same input example, so
both servers know the signature and check requests against it), by MLflow's own Python in its own venv.

Both servers then run at once, each as its user starts it, with its defaults for workers:

- ``loopml serve bench-rf@champion --host 127.0.0.1 --port P`` (project ``.venv``), followed by any
  ``--serve-arg`` (say ``--serve-arg=--no-log-proba``, to measure what logging probabilities costs);
- ``mlflow models serve -m MODEL_DIR --env-manager local -h 127.0.0.1 -p P``
  (``bench/.venvs/mlflow-serving``).

One load generator for both: ``wrk`` (C, event-driven; ``apt-get install wrk``), with a Lua script that
sends single-row requests, ``POST /invocations`` with the same ``dataframe_split`` bodies to both servers,
rotating through 100 held-out rows, keep-alive connections. For each server, at 1 and at 16 concurrent
connections: throughput, p50 and p99 latency (as wrk measures them: request written to response read),
errors (connect, read, write, timeout and non-2xx answers: must be 0), and the CPU time the server's
processes used. A warm-up precedes the timed runs; each run lasts ``--duration`` seconds; the servers take
turns, repeat by repeat, so a change in the machine's load weighs on both; the figures are medians of
``--repeats``.

The floor: the model's own ``predict``. On a shared machine the speed of the same code drifts by half from
one minute to the next, so a floor timed at another moment than the requests says little; the 1-connection
goal is judged on floors timed in the same moments as the requests: (1) in each 1-connection wrk run, the
p50 of the predict times loopml's server reports in its answers (``Server-Timing: predict;dur=MS``); (2) a
process of each tool's venv that sends one request at a time and, after each answer, predicts the same row
itself (``model.predict(one_row_df)``, the same pickled object). Also timed once at the start, call by call
in a fresh process. For context, the same through each tool's in-process API
(``lm.load_model(...).predict``, ``mlflow.pyfunc.load_model(...).predict``) and each server's plain HTTP
round trip (``GET /v2/health/ready``, ``GET /ping``) at 1 connection.

Goals (from the issue): at 16 connections, loopml's throughput at least 10 times MLflow's and loopml's p99
below MLflow's p50; at 1 connection, loopml's p50 within 1 ms of the in-process ``predict`` p50.

Checks, untimed, before and after the timed runs: each server answers every one of the 100 bodies with the
predictions the model gives in process (and a 100-row request with all of them); any difference, any wrong
status, or any error counted by wrk stops the bench.

The model files, homes, server logs and raw results go under ``bench/.work/serving-*``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: make _common importable

from _common import (
    REPO_DIR,
    RESULTS_FILE,
    WORK_DIR,
    changed_during_run,
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

# Pinned so figures stay comparable: the newest MLflow that installs from the package index when this bench
# was written, with the project's own scikit-learn, numpy, pandas and scipy pins
# (requirements/constraints.txt), so both servers run the same model code. Bump on purpose, and say so
# in RESULTS.md.
MLFLOW_REQUIREMENTS = [
    "mlflow==3.17.2",
    "scikit-learn==1.9.1",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "scipy==1.17.1",
]
MLFLOW_VENV = "mlflow-serving"
RESULTS_HEADING = "## Serving (bench/serving.py)"
LOOPML_PYTHON = REPO_DIR / ".venv" / "bin" / "python"
LOOPML_CLI = REPO_DIR / ".venv" / "bin" / "loopml"
MODEL_NAME, ALIAS = "bench-rf", "champion"
TREES, DEPTH, FEATURES = 50, 8, 20
TRAIN_ROWS, QUERY_ROWS, SEED = 5_000, 100, 20241122
CONNECTIONS = (1, 16)
THROUGHPUT_GOAL = 10.0  # "at 16 concurrent connections, at least 10x MLflow's throughput"
INTERLEAVE_SECONDS = (
    10.0  # per server and repeat: requests one at a time, each followed by an in-process predict
)
FLOOR_MARGIN_S = 0.001  # "at 1 connection, p50 within 1 ms of the model's own in-process predict time"
READY_TIMEOUT_S = 180.0
WRK_TIMEOUT = "10s"  # a request slower than this counts as an error


# -- the worker: runs in a fresh process, in loopml's venv or in MLflow's


WORKER = '''"""The serving bench's worker (written by bench/serving.py): one workload per process."""

import json
import pickle
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REQ = json.loads(sys.argv[1])
WS = Path(REQ["workspace"])


def columns():
    return [f"f{i}" for i in range(REQ["features"])]


def load_pickled():
    with (WS / "model.pkl").open("rb") as f:
        return pickle.load(f)


def example():
    return pd.read_pickle(WS / "example.pkl")


def query_frames():
    rows = json.loads((WS / "rows.json").read_text())
    return [pd.DataFrame([row], columns=columns()) for row in rows]


def fit():
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_classification(
        n_samples=REQ["train_rows"] + REQ["query_rows"], n_features=REQ["features"], n_informative=12,
        n_classes=3, random_state=REQ["seed"],
    )
    X_df = pd.DataFrame(X, columns=columns())
    train, query = X_df.iloc[: REQ["train_rows"]], X_df.iloc[REQ["train_rows"]:]
    model = RandomForestClassifier(
        n_estimators=REQ["trees"], max_depth=REQ["depth"], random_state=REQ["seed"]
    ).fit(train, y[: REQ["train_rows"]])
    with (WS / "model.pkl").open("wb") as f:
        pickle.dump(model, f)
    train.head(20).to_pickle(WS / "example.pkl")
    rows = query.to_numpy().tolist()
    (WS / "rows.json").write_text(json.dumps(rows))
    one_by_one = [model.predict(pd.DataFrame([r], columns=columns())).tolist()[0] for r in rows]
    together = model.predict(pd.DataFrame(rows, columns=columns())).tolist()
    (WS / "expected.json").write_text(json.dumps({"one_by_one": one_by_one, "together": together}))
    import sklearn

    return {"sklearn": sklearn.__version__, "classes": sorted(set(together))}


def register():
    import loopml as lm

    model = load_pickled()
    version = lm.register_model(REQ["name"], model, input_example=example())
    lm.set_alias(REQ["name"], REQ["alias"], version.version)
    return {"version": version.version}


def mlflow_save():
    import mlflow
    import mlflow.sklearn

    # its default serialization (skops) refuses a forest's tree storage unless told to trust it
    mlflow.sklearn.save_model(
        load_pickled(), str(WS / "mlflow-model"), input_example=example(),
        skops_trusted_types=["sklearn.tree._tree.Tree"],
    )
    return {"mlflow": mlflow.__version__}


def time_calls(predict, frames):
    """Each call timed on its own; a warm-up first; about REQ["seconds"] of calls."""
    for frame in frames:
        predict(frame)
    times = []
    deadline = time.perf_counter() + REQ["seconds"]
    i = 0
    while time.perf_counter() < deadline or len(times) < 200:
        frame = frames[i % len(frames)]
        start = time.perf_counter_ns()
        predict(frame)
        times.append((time.perf_counter_ns() - start) / 1e9)
        i += 1
    times.sort()
    return {
        "calls": len(times),
        "p50_s": statistics.median(times),
        "p99_s": times[min(len(times) - 1, int(len(times) * 0.99))],
        "mean_s": statistics.fmean(times),
    }


def floor():
    """In-process predict time, one row at a time: the model itself, and through the tool's own API."""
    import sklearn

    frames = query_frames()
    out = {"sklearn": sklearn.__version__, "model": time_calls(load_pickled().predict, frames)}
    if REQ["tool"] == "loopml":
        import loopml as lm

        loaded = lm.load_model(f"{REQ['name']}@{REQ['alias']}")
        out["tool"] = time_calls(loaded.predict, frames)
    else:
        import mlflow.pyfunc

        loaded = mlflow.pyfunc.load_model(str(WS / "mlflow-model"))
        out["tool"] = time_calls(loaded.predict, frames)
    return out


def floor_loop():
    """Stay up and take commands from stdin, one JSON line each, answering each with one JSON line:
    ``{"seconds": S}`` times the model's predict that long; ``{"seconds": S, "url": U, "bodies": F}`` sends
    the bodies of F (one per line) to U, one request at a time on one keep-alive connection, and after each
    answer predicts the same row in process, so both are timed in the same moments."""
    predict, frames = load_pickled().predict, query_frames()
    for frame in frames:
        predict(frame)
    for line in sys.stdin:
        command = json.loads(line)
        REQ["seconds"] = float(command["seconds"])
        if "url" not in command:
            print(json.dumps(time_calls(predict, frames)), flush=True)
            continue
        print(json.dumps(interleave(predict, frames, command["url"], command["bodies"])), flush=True)
    return {}


def interleave(predict, frames, url, bodies_path):
    import socket
    import urllib.parse

    target = urllib.parse.urlsplit(url)
    bodies = Path(bodies_path).read_bytes().splitlines()
    assert len(bodies) == len(frames), "one body per query row, in the same order"
    requests = [  # written whole, like wrk's: the client's own cost stays out of the figures
        (
            f"POST {target.path} HTTP/1.1\\r\\nHost: {target.netloc}\\r\\n"
            f"Content-Type: application/json\\r\\nContent-Length: {len(body)}\\r\\n\\r\\n"
        ).encode()
        + body
        for body in bodies
    ]
    sock = socket.create_connection((target.hostname, target.port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    over_http, in_process, above_server = [], [], []
    deadline = time.perf_counter() + REQ["seconds"]
    i = 0
    while time.perf_counter() < deadline or len(over_http) < 200:
        start = time.perf_counter_ns()
        sock.sendall(requests[i % len(requests)])
        status, server_predict_s = read_response(sock)
        over_http.append((time.perf_counter_ns() - start) / 1e9)
        if status != 200:
            raise RuntimeError(f"{url} answered {status}")
        if server_predict_s is not None:
            above_server.append(over_http[-1] - server_predict_s)
        start = time.perf_counter_ns()
        predict(frames[i % len(frames)])
        in_process.append((time.perf_counter_ns() - start) / 1e9)
        i += 1
    sock.close()
    return {
        "requests": len(over_http),
        "http_p50_s": statistics.median(over_http),
        "predict_p50_s": statistics.median(in_process),
        # per request: the time over HTTP minus the predict call's time the server reported (Server-Timing)
        "above_server_predict_p50_s": statistics.median(above_server) if above_server else None,
    }


def read_response(sock):
    """Read one HTTP/1.1 response with a Content-Length body; its status, and the predict time the server
    reported in a ``Server-Timing: predict;dur=MS`` header (None without one)."""
    data = b""
    while b"\\r\\n\\r\\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        data += chunk
    head, _, body = data.partition(b"\\r\\n\\r\\n")
    lines = head.split(b"\\r\\n")
    length, predict_s = 0, None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"server-timing" and value.strip().startswith(b"predict;dur="):
            predict_s = float(value.strip()[len(b"predict;dur=") :].split(b",")[0]) / 1000
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        body += chunk
    return int(lines[0].split()[1]), predict_s


if __name__ == "__main__":
    work = {
        "fit": fit,
        "register": register,
        "mlflow-save": mlflow_save,
        "floor": floor,
        "floor-loop": floor_loop,
    }[REQ["workload"]]
    print(json.dumps(work()))
'''

# wrk's Lua: POST the bodies of a file (one per line) in turn, or GET the URL when no file is given; print
# the summary as one JSON line at the end (latencies in µs).
WRK_SCRIPT = """-- written by bench/serving.py
local reqs, n, i = {}, 0, 0

function init(args)
  if args[1] ~= nil then
    local headers = {["Content-Type"] = "application/json"}
    for line in io.lines(args[1]) do
      n = n + 1
      reqs[n] = wrk.format("POST", nil, headers, line)
    end
  end
end

function request()
  if n == 0 then
    return wrk.request()
  end
  i = i % n + 1
  return reqs[i]
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

-- the predict times the server reported (Server-Timing: predict;dur=MS), when the timing script is used
local function server_predict_p50_us()
  local all = {}
  for _, t in ipairs(threads) do
    local got = t:get("timings")
    if got ~= nil then
      for _, v in ipairs(got) do table.insert(all, v) end
    end
  end
  if #all == 0 then return -1 end
  table.sort(all)
  return all[math.floor((#all + 1) / 2)] * 1000
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %.0f, "p90_us": %.0f, "p99_us": %.0f, ' ..
    '"max_us": %.0f, "mean_us": %.1f, "connect": %d, "read": %d, "write": %d, "status": %d, ' ..
    '"timeout": %d, "server_predict_p50_us": %.1f}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout,
    server_predict_p50_us()))
end
"""

# The same, and each answer's Server-Timing predict time collected (wrk then parses every response's headers,
# so only the 1-connection runs use it, for both servers alike).
WRK_TIMING_SCRIPT = (
    WRK_SCRIPT
    + """
timings = {}

function response(status, headers, body)
  local value = headers["server-timing"] or headers["Server-Timing"]
  if value ~= nil then
    local ms = tonumber(string.match(value, "predict;dur=([%d%.]+)"))
    if ms ~= nil then table.insert(timings, ms) end
  end
end
"""
)


# -- helpers


def _base_env() -> dict[str, str]:
    """This environment minus anything that would point a tool elsewhere or change how Python starts."""
    drop = ("LOOPML_", "MLFLOW_", "PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http(method: str, url: str, body: Any = None, timeout_s: float = 30) -> tuple[int, Any]:
    """One request; its status and its JSON (or text) answer."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


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


def require_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit(
            "bench/serving.py needs wrk, the HTTP load generator: install it with "
            "`apt-get install wrk` (Debian, Ubuntu), `brew install wrk` (macOS), or build it from source."
        )
    return found


# -- the servers


def _process_group_cpu_s(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of a process group (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / ticks


@dataclass
class Server:
    name: str
    label: str
    command: list[str]
    env: dict[str, str]
    cwd: Path
    port: int
    ready_path: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        """Start the server in its own process group; wait until it says it is ready; return the wait."""
        print(f"  starting {self.label}: {' '.join(self.command)}")
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.command,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its workers share its process group: stopped and measured together
            )
        start = time.perf_counter()
        while time.perf_counter() - start < READY_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, _ = http("GET", self.base + self.ready_path, timeout_s=2)
            except OSError:
                status = 0
            if status == 200:
                return time.perf_counter() - start
            time.sleep(0.2)
        raise RuntimeError(f"{self.label} not ready after {READY_TIMEOUT_S:.0f} s:\n{self.log_tail()}")

    def cpu_s(self) -> float:
        return 0.0 if self.proc is None else _process_group_cpu_s(self.proc.pid)

    def stop(self) -> None:
        """Stop the process group this bench started (its id is the server's pid), politely, then not."""
        if self.proc is None or self.proc.poll() is not None:
            return
        for sig, wait_s in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def loopml_server(session: Path, port: int, extra: Sequence[str] = ()) -> Server:
    env = {**_base_env(), "LOOPML_HOME": str(session / "loopml-home")}
    command = [
        str(LOOPML_CLI),
        "serve",
        f"{MODEL_NAME}@{ALIAS}",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *extra,
    ]
    return Server(
        "loopml", "loopml", command, env, session, port, "/v2/health/ready", session / "loopml-serve.log"
    )


def mlflow_server(mlflow_python: Path, session: Path, port: int) -> Server:
    bin_dir = mlflow_python.parent
    env = {
        **_base_env(),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",  # it starts uvicorn from its venv
        "MLFLOW_DISABLE_TELEMETRY": "true",  # this machine has no network
        "DO_NOT_TRACK": "true",
    }
    command = [
        str(bin_dir / "mlflow"),
        "models",
        "serve",
        "-m",
        str(session / "mlflow-model"),
        "--env-manager",
        "local",
        "-h",
        "127.0.0.1",
        "-p",
        str(port),
    ]
    return Server("mlflow", "MLflow", command, env, session, port, "/ping", session / "mlflow-serve.log")


# -- checks


def body_of(rows: Sequence[Sequence[float]]) -> dict[str, Any]:
    return {
        "dataframe_split": {"columns": [f"f{i}" for i in range(FEATURES)], "data": [list(r) for r in rows]}
    }


def check_answers(server: Server, rows: Sequence[Sequence[float]], expected: Mapping[str, list[Any]]) -> str:
    """Raise unless the server predicts, row by row and all rows at once, what the model does in process."""
    url = server.base + "/invocations"
    for i, row in enumerate(rows):
        status, answer = http("POST", url, body_of([row]))
        if status != 200 or not isinstance(answer, dict) or "predictions" not in answer:
            raise RuntimeError(f"{server.label}: row {i} answered {status}: {str(answer)[:500]}")
        if answer["predictions"] != [expected["one_by_one"][i]]:
            raise RuntimeError(
                f"{server.label}: row {i} predicted {answer['predictions']}, "
                f"in process {[expected['one_by_one'][i]]}"
            )
    status, answer = http("POST", url, body_of(rows))
    if status != 200 or not isinstance(answer, dict) or answer.get("predictions") != expected["together"]:
        raise RuntimeError(
            f"{server.label}: the {len(rows)}-row request answered {status}: {str(answer)[:500]}"
        )
    return f"{len(rows)} single-row requests and one {len(rows)}-row request answered as in process"


# -- load


@dataclass
class Run:
    connections: int
    requests: int
    seconds: float
    p50_s: float
    p90_s: float
    p99_s: float
    max_s: float
    errors: dict[str, int]
    cpu_s: float
    server_predict_p50_s: float | None = None  # from the answers' Server-Timing headers, when collected

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def run_wrk(
    server: Server, path: str, connections: int, duration_s: float, script: Path, bodies: Path | None
) -> Run:
    threads = max(1, min(connections, os.cpu_count() or 1))
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s:g}s",
        "--timeout",
        WRK_TIMEOUT,
        "-s",
        str(script),
        server.base + path,
    ]
    if bodies is not None:
        cmd += ["--", str(bodies)]
    cpu_before = server.cpu_s()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 120, check=False)
    cpu = server.cpu_s() - cpu_before
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}): {proc.stderr or proc.stdout}")
    s = json.loads(lines[-1])
    errors = {k: int(s[k]) for k in ("connect", "read", "write", "status", "timeout")}
    return Run(
        connections=connections,
        requests=int(s["requests"]),
        seconds=s["duration_us"] / 1e6,
        p50_s=s["p50_us"] / 1e6,
        p90_s=s["p90_us"] / 1e6,
        p99_s=s["p99_us"] / 1e6,
        max_s=s["max_us"] / 1e6,
        errors=errors,
        cpu_s=cpu,
        server_predict_p50_s=None if s["server_predict_p50_us"] < 0 else s["server_predict_p50_us"] / 1e6,
    )


class FloorProcess:
    """The model's in-process predict, timed on demand in a process that stays up (``floor-loop``)."""

    def __init__(
        self, python: Path, worker: Path, request: Mapping[str, Any], cwd: Path, env: Mapping[str, str]
    ):
        self.proc = subprocess.Popen(
            [str(python), str(worker), json.dumps(dict(request))],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def ask(self, command: Mapping[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(dict(command)) + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the floor process ended (exit {self.proc.wait()})")
            if line.startswith("{"):
                answer: dict[str, Any] = json.loads(line)
                return answer

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def interleaved(server: Server, floor: FloorProcess, figures: Figures, bodies: Path, seconds: float) -> None:
    """One request at a time over HTTP, each followed by the model's in-process predict of the same row in
    the floor process: both p50s come from the same moments, whatever the machine's speed does meanwhile."""
    got = floor.ask({"seconds": seconds, "url": server.base + "/invocations", "bodies": str(bodies)})
    figures.interleaved.append(got)
    print(
        f"  {server.label:<7} 1 conn, interleaved with in-process predicts: p50 "
        f"{fmt_duration(got['http_p50_s'])} over HTTP, {fmt_duration(got['predict_p50_s'])} in process, "
        f"{got['requests']:,} requests"
    )


def describe(run: Run) -> str:
    errors = "no errors" if run.error_count == 0 else f"ERRORS {run.errors}"
    return (
        f"{run.rps:,.0f} req/s, p50 {fmt_duration(run.p50_s)}, p99 {fmt_duration(run.p99_s)}, "
        f"server CPU {run.cpu_s:,.1f} s, {errors}"
    )


@dataclass
class Figures:
    runs: dict[int, list[Run]] = field(default_factory=lambda: {c: [] for c in CONNECTIONS})
    health: Run | None = None
    interleaved: list[dict[str, Any]] = field(
        default_factory=list
    )  # per repeat: requests and predicts, in turn

    @property
    def floors(self) -> list[float]:
        return [i["predict_p50_s"] for i in self.interleaved]

    def above_run_predict_s(self) -> list[float]:
        """Per 1-connection wrk run: its p50 minus the p50 of the predict times the server reported."""
        runs = self.runs[min(CONNECTIONS)]
        return [r.p50_s - r.server_predict_p50_s for r in runs if r.server_predict_p50_s is not None]

    def above_server_predict_s(self) -> list[float]:
        """Per repeat: the p50 of each request's time over HTTP minus its predict time in the server."""
        return [i["above_server_predict_p50_s"] for i in self.interleaved]

    def above_floor_s(self) -> list[float]:
        """Per repeat: the p50 over HTTP minus the p50 of the in-process predicts interleaved with it."""
        return [i["http_p50_s"] - i["predict_p50_s"] for i in self.interleaved]

    def med(self, connections: int, what: str) -> float:
        return median([getattr(r, what) for r in self.runs[connections]])

    def cpu_per_request_s(self, connections: int) -> float:
        return median([r.cpu_s / r.requests for r in self.runs[connections] if r.requests])


# -- the report


@dataclass(frozen=True)
class Row:
    label: str
    loopml: str
    mlflow: str
    times: str = "—"
    goal: str = "—"
    met: bool | None = None

    def cells(self) -> list[str]:
        met = "—" if self.met is None else ("yes" if self.met else "NO")
        return [self.label, self.loopml, self.mlflow, self.times, self.goal, met]


TABLE_HEADER = ("Measurement", "loopml", "MLflow", "loopml vs MLflow", "Goal", "Met")


def build_rows(lm: Figures, mf: Figures, floors: Mapping[str, Mapping[str, Any]], repeats: int) -> list[Row]:
    hi, lo = max(CONNECTIONS), min(CONNECTIONS)
    of = f"median of {repeats}"

    def rps(c: int, f: Figures) -> str:
        return f"{f.med(c, 'rps'):,.0f} req/s"

    def lat(c: int, f: Figures, what: str) -> str:
        return fmt_duration(f.med(c, what))

    def faster(c: int, what: str) -> str:
        return fmt_ratio(ratio(mf.med(c, what), lm.med(c, what)))

    rows = [
        Row(
            f"{hi} connections: throughput ({of})",
            rps(hi, lm),
            rps(hi, mf),
            fmt_ratio(lm.med(hi, "rps") / mf.med(hi, "rps")),
            f"≥ ×{THROUGHPUT_GOAL:g} MLflow's",
            lm.med(hi, "rps") >= THROUGHPUT_GOAL * mf.med(hi, "rps"),
        ),
        Row(
            f"{hi} connections: p99 latency ({of})",
            lat(hi, lm, "p99_s"),
            lat(hi, mf, "p99_s"),
            faster(hi, "p99_s"),
            f"loopml p99 < MLflow p50 ({lat(hi, mf, 'p50_s')})",
            lm.med(hi, "p99_s") < mf.med(hi, "p50_s"),
        ),
        Row(
            f"{hi} connections: p50 latency ({of})",
            lat(hi, lm, "p50_s"),
            lat(hi, mf, "p50_s"),
            faster(hi, "p50_s"),
        ),
        Row(
            f"{lo} connection: p50 latency ({of})",
            lat(lo, lm, "p50_s"),
            lat(lo, mf, "p50_s"),
            faster(lo, "p50_s"),
        ),
        Row(
            f"{lo} connection (wrk): p50 minus the p50 of the server's own predict calls in the same run "
            f"(`Server-Timing`; {of})",
            fmt_duration(median(lm.above_run_predict_s())),
            "— (no such header)",
            goal=f"≤ {fmt_duration(FLOOR_MARGIN_S)}",
            met=median(lm.above_run_predict_s()) <= FLOOR_MARGIN_S,
        ),
        Row(
            f"{lo} connection, requests one at a time after an in-process predict each (the process idle "
            f"meanwhile): time over HTTP minus the server's predict time in the same answer, p50 ({of})",
            fmt_duration(median(lm.above_server_predict_s())),
            "— (no such header)",
        ),
        Row(
            f"{lo} connection, requests interleaved with in-process predicts of the same rows in another "
            f"process: p50 over HTTP minus p50 in process ({of})",
            fmt_duration(median(lm.above_floor_s())),
            fmt_duration(median(mf.above_floor_s())),
            fmt_ratio(ratio(median(mf.above_floor_s()), median(lm.above_floor_s()))),
            f"≤ {fmt_duration(FLOOR_MARGIN_S)}",
            median(lm.above_floor_s()) <= FLOOR_MARGIN_S,
        ),
        Row(
            f"{lo} connection: p99 latency ({of})",
            lat(lo, lm, "p99_s"),
            lat(lo, mf, "p99_s"),
            faster(lo, "p99_s"),
        ),
        Row(
            f"{lo} connection: throughput ({of})",
            rps(lo, lm),
            rps(lo, mf),
            fmt_ratio(lm.med(lo, "rps") / mf.med(lo, "rps")),
        ),
        Row(
            "in-process `model.predict(one-row DataFrame)`, p50: the floor (sklearn, in each tool's venv; "
            f"timed between the interleaved requests; {of})",
            fmt_duration(median(lm.floors)),
            fmt_duration(median(mf.floors)),
        ),
        Row(
            "in-process predict through the tool's API, p50 (`lm.load_model(...).predict`, "
            "`mlflow.pyfunc.load_model(...).predict`; context)",
            fmt_duration(floors["loopml"]["tool"]["p50_s"]),
            fmt_duration(floors["mlflow"]["tool"]["p50_s"]),
            fmt_ratio(ratio(floors["mlflow"]["tool"]["p50_s"], floors["loopml"]["tool"]["p50_s"])),
        ),
        Row(
            f"server CPU time per request at {hi} connections ({of}; context)",
            fmt_duration(lm.cpu_per_request_s(hi)),
            fmt_duration(mf.cpu_per_request_s(hi)),
            fmt_ratio(ratio(mf.cpu_per_request_s(hi), lm.cpu_per_request_s(hi))),
        ),
        Row(
            "errors, all timed runs (connect, read, write, timeout, non-2xx)",
            str(sum(r.error_count for c in CONNECTIONS for r in lm.runs[c])),
            str(sum(r.error_count for c in CONNECTIONS for r in mf.runs[c])),
            goal="0",
            met=all(r.error_count == 0 for f in (lm, mf) for c in CONNECTIONS for r in f.runs[c]),
        ),
    ]
    return rows


def raw_notes(lm: Figures, mf: Figures) -> list[str]:
    notes = []
    for label, f in (("loopml", lm), ("MLflow", mf)):
        for c in CONNECTIONS:
            each = "; ".join(
                f"{r.rps:,.0f} req/s, p50 {fmt_duration(r.p50_s)}, p90 {fmt_duration(r.p90_s)}, "
                f"p99 {fmt_duration(r.p99_s)}, max {fmt_duration(r.max_s)}, {r.requests:,} requests in "
                f"{r.seconds:,.1f} s, server CPU {r.cpu_s:,.1f} s, {r.error_count} errors"
                for r in f.runs[c]
            )
            notes.append(f"{label}, {c} connection{'s' if c > 1 else ''}, each repeat: {each}")
    return notes


def results_section(
    command: str,
    quick: bool,
    versions: Mapping[str, str],
    load: str,
    rows: Sequence[Row],
    notes: Sequence[str],
) -> str:
    m = machine_info()
    smoke = " (smoke run: short runs, one repeat; not the reference figures)" if quick else ""
    lines = [
        f"- Date: {utc_now()}",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM; Python {m['python']}; {m['os']}; {load}",
        f"- Versions: loopml {versions['loopml']}, project `.venv`; MLflow {versions['mlflow']} "
        f"(`{' '.join(MLFLOW_REQUIREMENTS)}` in `bench/.venvs/{MLFLOW_VENV}`); {versions['wrk']}; "
        f"scikit-learn {versions['sklearn']} on both sides",
        f"- Command: `{command}`{smoke}",
        "",
        markdown_table(TABLE_HEADER, [row.cells() for row in rows]),
        "",
        *(f"- {note}" for note in notes),
    ]
    return "\n".join(lines)


# -- the bench


def wrk_version() -> str:
    proc = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    first = (proc.stdout or proc.stderr).strip().splitlines()
    return first[0].split(" [")[0].strip() if first else "wrk"


def tool_versions(mlflow_python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m; "
        "print(' '.join(f'{p} {m.version(p)}' for p in ('mlflow', 'uvicorn', 'fastapi')))"
    )
    out = subprocess.run([str(mlflow_python), "-c", code], capture_output=True, text=True, check=True).stdout
    parts = out.split()
    mlflow = f"{parts[1]} (uvicorn {parts[3]}, FastAPI {parts[5]})"
    return {"loopml": loopml_version(), "mlflow": mlflow, "wrk": wrk_version()}


def worker_config(session: Path, seconds: float) -> dict[str, Any]:
    """What every workload of the serving worker is told: the model to fit and the workspace to use."""
    return {
        "workspace": str(session),
        "features": FEATURES,
        "trees": TREES,
        "depth": DEPTH,
        "train_rows": TRAIN_ROWS,
        "query_rows": QUERY_ROWS,
        "seed": SEED,
        "name": MODEL_NAME,
        "alias": ALIAS,
        "seconds": seconds,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 s runs, one repeat: a smoke run")
    parser.add_argument("--keep", action="store_true", help="keep the workspace under bench/.work/")
    parser.add_argument("--no-write", action="store_true", help="print the table but leave RESULTS.md alone")
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed runs per server and load (default 3)"
    )
    parser.add_argument("--duration", type=float, default=None, help="seconds per timed run (default 12)")
    parser.add_argument(
        "--serve-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="one more argument for `loopml serve` (repeatable; e.g. --serve-arg=--no-log-proba)",
    )
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    duration = args.duration if args.duration is not None else (3.0 if args.quick else 12.0)
    warmup = 1.0 if args.quick else 5.0
    interleave_s = 3.0 if args.quick else INTERLEAVE_SECONDS
    if repeats < 1 or duration <= 0:
        parser.error("--repeats must be at least 1 and --duration positive")

    require_wrk()
    mlflow_python = ensure_venv(MLFLOW_VENV, MLFLOW_REQUIREMENTS)
    versions = tool_versions(mlflow_python)
    session = fresh_dir(WORK_DIR, "serving-")
    print(f"model, homes, logs and raw results in {session.relative_to(REPO_DIR)}")
    load_before = load_average()

    base = worker_config(session, seconds=2.0 if args.quick else 5.0)
    worker = session / "serving_worker.py"
    worker.write_text(WORKER)
    lm_env = {**_base_env(), "LOOPML_HOME": str(session / "loopml-home")}
    mf_env = {**_base_env(), "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    print(f"fitting the model ({TREES} trees, depth {DEPTH}, {FEATURES} features), registering it, saving it")
    fitted = run_worker(LOOPML_PYTHON, worker, {**base, "workload": "fit"}, cwd=session, env=lm_env)
    versions["sklearn"] = fitted["sklearn"]
    run_worker(LOOPML_PYTHON, worker, {**base, "workload": "register"}, cwd=session, env=lm_env)
    run_worker(mlflow_python, worker, {**base, "workload": "mlflow-save"}, cwd=session, env=mf_env)
    rows: list[list[float]] = json.loads((session / "rows.json").read_text())
    expected = json.loads((session / "expected.json").read_text())
    bodies = session / "bodies.jsonl"
    bodies.write_text("".join(json.dumps(body_of([row])) + "\n" for row in rows))
    script = session / "bench.lua"
    script.write_text(WRK_SCRIPT)
    timing_script = session / "bench-timing.lua"
    timing_script.write_text(WRK_TIMING_SCRIPT)

    print("in-process predict, one row at a time (the floor)")
    floors = {
        "loopml": run_worker(
            LOOPML_PYTHON, worker, {**base, "workload": "floor", "tool": "loopml"}, cwd=session, env=lm_env
        ),
        "mlflow": run_worker(
            mlflow_python, worker, {**base, "workload": "floor", "tool": "mlflow"}, cwd=session, env=mf_env
        ),
    }
    for name, fl in floors.items():
        if fl["sklearn"] != versions["sklearn"]:
            raise RuntimeError(f"{name}'s venv has scikit-learn {fl['sklearn']}, not {versions['sklearn']}")
        print(
            f"  {name:<7} model.predict p50 {fmt_duration(fl['model']['p50_s'])}, "
            f"through the tool p50 {fmt_duration(fl['tool']['p50_s'])}"
        )

    floor_procs = {
        "loopml": FloorProcess(LOOPML_PYTHON, worker, {**base, "workload": "floor-loop"}, session, lm_env),
        "mlflow": FloorProcess(mlflow_python, worker, {**base, "workload": "floor-loop"}, session, mf_env),
    }
    servers = [
        loopml_server(session, free_port(), args.serve_arg),
        mlflow_server(mlflow_python, session, free_port()),
    ]
    figures = {s.name: Figures() for s in servers}
    checks: dict[str, list[str]] = {s.name: [] for s in servers}
    startup: dict[str, float] = {}
    try:
        for server in servers:
            startup[server.name] = server.start()
            checks[server.name].append("before: " + check_answers(server, rows, expected))
            print(f"  {server.label} ready in {startup[server.name]:.1f} s; answers checked")
        print("warm-up")
        for server in servers:
            for c in CONNECTIONS:
                run_wrk(server, "/invocations", c, warmup, script, bodies)
        for server in servers:
            health = run_wrk(server, server.ready_path, 1, min(duration, 5.0), script, None)
            figures[server.name].health = health
            print(f"  {server.label} GET {server.ready_path}, 1 connection: {describe(health)}")
        for r in range(repeats):
            print(f"repeat {r + 1} of {repeats}")
            order = servers if r % 2 == 0 else servers[::-1]
            for server in order:
                for c in CONNECTIONS:
                    lua = timing_script if c == min(CONNECTIONS) else script
                    run = run_wrk(server, "/invocations", c, duration, lua, bodies)
                    figures[server.name].runs[c].append(run)
                    print(f"  {server.label:<7} {c:>2} conn: {describe(run)}")
                interleaved(server, floor_procs[server.name], figures[server.name], bodies, interleave_s)
        for server in servers:
            checks[server.name].append("after: " + check_answers(server, rows, expected))
    finally:
        for server in servers:
            server.stop()
        for proc in floor_procs.values():
            proc.close()
    load = f"load average {load_before} at the start, {load_average()} at the end (a shared machine)"

    raw = {
        "versions": versions,
        "floors": floors,
        "startup_s": startup,
        "figures": {
            name: {
                "runs": {str(c): [asdict(r) for r in f.runs[c]] for c in CONNECTIONS},
                "health": asdict(f.health) if f.health else None,
                "floors_s": f.floors,
                "interleaved": f.interleaved,
            }
            for name, f in figures.items()
        },
        "checks": checks,
    }
    (session / "results.json").write_text(json.dumps(raw, indent=1))
    errors = {
        name: [asdict(r) for c in CONNECTIONS for r in f.runs[c] if r.error_count]
        for name, f in figures.items()
    }
    if any(errors.values()):
        raise RuntimeError(f"errors under load (raw results in {session / 'results.json'}): {errors}")

    lm, mf = figures["loopml"], figures["mlflow"]
    table = build_rows(lm, mf, floors, repeats)
    loopml_command = " ".join(
        ["loopml serve", f"{MODEL_NAME}@{ALIAS}", "--host 127.0.0.1 --port P", *args.serve_arg]
    )
    assert lm.health is not None and mf.health is not None
    notes = [
        f"Model: scikit-learn `RandomForestClassifier(n_estimators={TREES}, max_depth={DEPTH})` (3 classes, "
        f"`n_jobs` left at its default), fitted once on {TRAIN_ROWS:,} rows of {FEATURES} float features; "
        f"the same pickled object registered with loopml (`lm.register_model(..., input_example=...)`, alias "
        f"`{ALIAS}`) and saved by MLflow (`mlflow.sklearn.save_model(..., input_example=...)`, its default "
        "serialization, skops, trusting `sklearn.tree._tree.Tree`), so both servers check each request "
        "against the same inferred signature.",
        "Servers, each with its defaults for workers, both running throughout, started as a user starts "
        f"them: `{loopml_command}`, which runs uvicorn, 1 worker "
        "process by default (`--workers`), adaptive batching on (`--max-batch 64 --max-wait-ms 2`; a lone "
        "request is not held back), every answered request written to the prediction log; "
        "`mlflow models serve -m MODEL_DIR --env-manager local -h 127.0.0.1 -p P`, which runs uvicorn with "
        "MLflow's FastAPI scoring app, 1 worker process by default (`--workers`/`MLFLOW_MODELS_WORKERS`), "
        "each prediction in a thread (`asyncio.to_thread`). Ready after: "
        f"loopml {startup['loopml']:.1f} s, MLflow {startup['mlflow']:.1f} s.",
        f"Load: wrk, keep-alive connections, `-t{min(16, os.cpu_count() or 1)} -c16` and `-t1 -c1`, "
        f"{duration:g} s per timed run after a {warmup:g} s warm-up per server and load; each request "
        f"`POST /invocations` with one row as `dataframe_split` (the same {QUERY_ROWS} bodies, in turn, for "
        "both servers). Latency is wrk's, from writing the request to reading the whole response; wrk is a "
        "closed loop (a connection sends its next request when the answer arrives). wrk and both servers "
        "share the machine's cores, so at 16 connections the generator takes CPU from the server it drives, "
        "alike for both.",
        f"HTTP floor (context), `GET` of the readiness endpoint, 1 connection: loopml `/v2/health/ready` "
        f"p50 {fmt_duration(lm.health.p50_s)} ({lm.health.rps:,.0f} req/s); MLflow `/ping` p50 "
        f"{fmt_duration(mf.health.p50_s)} ({mf.health.rps:,.0f} req/s).",
        "The 1-connection goal is judged against floors timed in the same moments as the requests, because "
        "this machine's speed drifts from one minute to the next (the same in-process predict has measured "
        "from 2.8 to 5.7 ms p50 within an hour). (1) Each 1-connection wrk run collects the predict time "
        "loopml's server reports in every answer (`Server-Timing: predict;dur=MS`: the model's predict "
        "call, making the DataFrame from the request's numbers included); the row compares the run's p50 "
        "with theirs. MLflow sends no such header. (2) Per server and repeat, "
        f"{interleave_s:g} s of single requests over one keep-alive connection (written whole on a socket "
        "and read back, as wrk does, from a process of the tool's venv), each followed by the model's own "
        "`predict` of the same row in that process: compared per request with the server's reported "
        "predict time, and as p50s with the in-process predicts. Between requests both processes sit idle "
        "for a predict's time, so each call there starts cold and is slower than in a tight loop or under "
        "wrk. loopml, each repeat: "
        + "; ".join(
            f"{fmt_duration(i['http_p50_s'])} over HTTP, {fmt_duration(i['predict_p50_s'])} in process, "
            f"{fmt_duration(i['above_server_predict_p50_s'])} above the server's own predict time "
            f"({i['requests']:,} requests)"
            for i in lm.interleaved
        )
        + ". MLflow: "
        + "; ".join(
            f"{fmt_duration(i['http_p50_s'])} over HTTP, {fmt_duration(i['predict_p50_s'])} in process "
            f"({i['requests']:,} requests)"
            for i in mf.interleaved
        )
        + f". In a fresh process at the start, about "
        f"{base['seconds']:g} s of calls after a warm-up: `model.predict` p50 "
        f"{fmt_duration(floors['loopml']['model']['p50_s'])}, p99 "
        f"{fmt_duration(floors['loopml']['model']['p99_s'])} in loopml's venv, p50 "
        f"{fmt_duration(floors['mlflow']['model']['p50_s'])} in MLflow's.",
        f"Checks (untimed), before and after the timed runs: {checks['loopml'][0].split(': ', 1)[1]}, for "
        "both servers; wrk counted no errors in any run.",
        *raw_notes(lm, mf),
    ]
    notes += changed_during_run(versions["loopml"], loopml_version())
    print_report(TABLE_HEADER, [row.cells() for row in table], notes)
    if not args.keep:
        keep = session / "results.json"
        for child in session.iterdir():
            if child != keep:
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    if not args.no_write:
        command = " ".join(
            [".venv/bin/python bench/serving.py", *(argv if argv is not None else sys.argv[1:])]
        )
        write_results_section(
            RESULTS_HEADING, results_section(command, args.quick, versions, load, table, notes)
        )
        print(f"wrote {RESULTS_FILE.relative_to(REPO_DIR)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
