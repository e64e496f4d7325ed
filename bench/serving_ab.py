"""loopml's server against an older loopml's server, paired: what a change costs the server's throughput.

    .venv/bin/python bench/serving_ab.py --before DIR [--rounds N] [--seconds S] [--serve-arg=ARG ...]

``bench/serving.py`` runs one tree at a time, so two of its runs minutes apart compare the machine's moods
as much as the code (on a shared machine the same server's throughput moves by a fifth from one minute to
the next). This bench runs the servers of two checkouts at once instead: ``DIR`` (a clone of the older
commit with its own ``.venv``, say from ``make .venv/.installed``) and this checkout, and this checkout again
with ``--serve-arg`` arguments when given (``--serve-arg=--no-log-proba``). The same model as
``bench/serving.py`` (its worker fits it once; each server's own loopml registers it in a home of its own),
the same wrk script and bodies at 16 connections; the servers take turns round by round, in a rotating
order, so the machine's drift weighs on each alike, and each round's figures are compared with the older
server's of the same round. A 5 s warm-up per server precedes the rounds; each server's answers are
checked before them. The figures: per server, the median throughput and server CPU time per request; per
newer server, the geometric mean of its per-round throughput ratios to the older one, with a 95 %
bootstrap interval.

The homes, logs and raw results go under ``bench/.work/serving-ab-*``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: make _common importable

from _common import REPO_DIR, WORK_DIR, fresh_dir, load_average, markdown_table, run_worker
from serving import (
    ALIAS,
    MODEL_NAME,
    SEED,
    WORKER,
    WRK_SCRIPT,
    Server,
    _base_env,
    body_of,
    check_answers,
    free_port,
    loopml_version,
    require_wrk,
    run_wrk,
    worker_config,
)

CONNECTIONS = 16
WARMUP_S = 5.0


def geometric_interval(ratios: Sequence[float], draws: int = 5000) -> tuple[float, float, float]:
    """The geometric mean of ``ratios`` and a 95 % bootstrap interval of it (seeded)."""
    rng = random.Random(SEED)
    boots = sorted(statistics.geometric_mean(rng.choices(ratios, k=len(ratios))) for _ in range(draws))
    return statistics.geometric_mean(ratios), boots[int(0.025 * draws)], boots[int(0.975 * draws) - 1]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--before", type=Path, required=True, help="a checkout of the older commit, with .venv"
    )
    parser.add_argument("--rounds", type=int, default=12, help="rounds of one run per server (default 12)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds per run (default 10)")
    parser.add_argument(
        "--serve-arg", action="append", default=[], metavar="ARG", help="also run this checkout with it"
    )
    args = parser.parse_args(argv)
    before = args.before.resolve()
    if not (before / ".venv" / "bin" / "loopml").exists():
        parser.error(f"{before} has no .venv/bin/loopml: run `make .venv/.installed` there first")
    require_wrk()
    session = fresh_dir(WORK_DIR, "serving-ab-")
    print(f"homes, logs and raw results in {session.relative_to(REPO_DIR)}")
    worker = session / "serving_worker.py"
    worker.write_text(WORKER)
    base = worker_config(session, seconds=5.0)
    run_worker(REPO_DIR / ".venv" / "bin" / "python", worker, {**base, "workload": "fit"}, cwd=session)
    rows = json.loads((session / "rows.json").read_text())
    expected = json.loads((session / "expected.json").read_text())
    bodies = session / "bodies.jsonl"
    bodies.write_text("".join(json.dumps(body_of([row])) + "\n" for row in rows))
    script = session / "bench.lua"
    script.write_text(WRK_SCRIPT)

    specs: list[tuple[str, Path, list[str]]] = [("before", before, []), ("after", REPO_DIR, [])]
    if args.serve_arg:
        specs.append(("after " + " ".join(args.serve_arg), REPO_DIR, list(args.serve_arg)))
    servers = []
    for i, (name, tree, extra) in enumerate(specs):
        env = {**_base_env(), "LOOPML_HOME": str(session / f"home-{i}")}
        python = tree / ".venv" / "bin" / "python"
        run_worker(python, worker, {**base, "workload": "register"}, cwd=session, env=env)
        port = free_port()
        command = [str(tree / ".venv" / "bin" / "loopml"), "serve", f"{MODEL_NAME}@{ALIAS}"]
        command += ["--host", "127.0.0.1", "--port", str(port), *extra]
        servers.append(
            Server(name, name, command, env, session, port, "/v2/health/ready", session / f"{i}.log")
        )

    load_before = load_average()
    runs: dict[str, list[dict[str, float]]] = {s.name: [] for s in servers}
    try:
        for server in servers:
            ready = server.start()
            print(f"  {server.name}: ready in {ready:.1f} s; {check_answers(server, rows, expected)}")
        for server in servers:
            run_wrk(server, "/invocations", CONNECTIONS, WARMUP_S, script, bodies)
        for r in range(args.rounds):
            for server in servers[r % len(servers) :] + servers[: r % len(servers)]:
                run = run_wrk(server, "/invocations", CONNECTIONS, args.seconds, script, bodies)
                if run.error_count:
                    raise RuntimeError(f"{server.name}: errors under load: {run.errors}")
                got = {
                    "rps": run.requests / run.seconds,
                    "cpu_us": run.cpu_s / run.requests * 1e6,
                    "p50_ms": run.p50_s * 1e3,
                    "p99_ms": run.p99_s * 1e3,
                }
                runs[server.name].append(got)
                print(
                    f"  round {r + 1:>2} {server.name:<24} {got['rps']:,.0f} req/s, "
                    f"{got['cpu_us']:.0f} µs CPU/request"
                )
    finally:
        for server in servers:
            server.stop()
    load = f"load average {load_before} at the start, {load_average()} at the end"
    versions = {"before": loopml_version_of(before), "after": loopml_version()}
    (session / "results.json").write_text(json.dumps({"versions": versions, "runs": runs}, indent=1))

    table = []
    for server in servers:
        mine = runs[server.name]
        rps = statistics.median(x["rps"] for x in mine)
        cpu = statistics.median(x["cpu_us"] for x in mine)
        versus = "—"
        if server.name != "before":
            ratios = [x["rps"] / y["rps"] for x, y in zip(mine, runs["before"], strict=True)]
            mean, low, high = geometric_interval(ratios)
            versus = f"{mean:.3f} [{low:.3f}, {high:.3f}]"
        table.append([server.name, f"{rps:,.0f} req/s", f"{cpu:.0f} µs", versus])
    print()
    print(
        markdown_table(
            (
                f"Server ({args.rounds} rounds of {args.seconds:g} s, {CONNECTIONS} connections)",
                "throughput, median",
                "server CPU per request, median",
                "throughput / before's, per round: geometric mean [95 % bootstrap]",
            ),
            table,
        )
    )
    print()
    print(f"- before: loopml {versions['before']}; after: loopml {versions['after']}; {load}")
    return 0


def loopml_version_of(tree: Path) -> str:
    commit = subprocess.run(
        ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return f"commit {commit}" if commit else str(tree)


if __name__ == "__main__":
    raise SystemExit(main())
