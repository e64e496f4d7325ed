"""The CI example (``examples/ci/``): its GitHub Actions workflow is checked for shape, then its steps are run
for real, as a runner would run them, against PostgreSQL, so the example cannot drift from loopml.

The runner here is small on purpose: it evaluates the few GitHub expressions the workflow uses (contexts,
``&&``, ``||``, ``!``, ``==``, ``!=`` and the status functions), runs each ``run:`` step with bash as
``shell: bash`` does (``-eo pipefail``), passes ``$GITHUB_OUTPUT`` between steps and collects
``$GITHUB_STEP_SUMMARY``. The PostgreSQL service container is stood in for by a fresh schema of the test
database; ``pip install`` is what the test's own environment already did.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ci"
WORKFLOW = EXAMPLE / ".github" / "workflows" / "retrain-gate.yml"


def load_workflow() -> dict[Any, Any]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(workflow, dict)
    if True in workflow:  # YAML 1.1 reads the key `on` as true
        workflow["on"] = workflow.pop(True)
    return workflow


def the_job(workflow: Mapping[str, Any]) -> dict[str, Any]:
    jobs = workflow["jobs"]
    assert list(jobs) == ["retrain-gate"]
    job: dict[str, Any] = jobs["retrain-gate"]
    return job


def step_named(job: Mapping[str, Any], step_id: str) -> dict[str, Any]:
    found = [s for s in job["steps"] if s.get("id") == step_id]
    assert len(found) == 1, f"one step with id {step_id!r}"
    return found[0]


# --- the shape --------------------------------------------------------------------------------------------


def test_the_workflow_retrains_on_pull_requests_against_a_postgres_service() -> None:
    workflow = load_workflow()
    assert set(workflow["on"]) == {"pull_request"}
    assert workflow["concurrency"]["cancel-in-progress"] is False  # one job at a time moves the champion
    job = the_job(workflow)
    assert job["runs-on"] == "ubuntu-latest" and job["defaults"]["run"]["shell"] == "bash"

    postgres = job["services"]["postgres"]
    assert postgres["image"].startswith("postgres:") and postgres["ports"] == ["5432:5432"]
    assert "--health-cmd" in postgres["options"]  # steps start once the database answers
    # without the secret the Store is the service container, with its own credentials
    service = postgres["env"]
    url = evaluate(job["env"]["LOOPML_DATABASE_URL"], Context())
    assert url == (
        f"postgresql+psycopg://{service['POSTGRES_USER']}:{service['POSTGRES_PASSWORD']}"
        f"@localhost:5432/{service['POSTGRES_DB']}"
    )
    team = Context(secrets={"LOOPML_DATABASE_URL": "postgresql+psycopg://team-store/loopml"})
    assert evaluate(job["env"]["LOOPML_DATABASE_URL"], team) == "postgresql+psycopg://team-store/loopml"
    assert "secrets.LOOPML_ARTIFACT_ROOT" in job["env"]["LOOPML_ARTIFACT_ROOT"]

    for step in job["steps"]:
        if "uses" in step:
            assert re.fullmatch(r"actions/[a-z-]+@v\d+", step["uses"]), step["uses"]


def test_the_gate_writes_the_summary_and_only_a_pass_moves_the_alias() -> None:
    job = the_job(load_workflow())
    steps = job["steps"]
    retrain, gate = step_named(job, "retrain"), step_named(job, "gate")
    assert "loopml pipeline run pipeline.py:retrain --config params.yaml" in retrain["run"]
    assert "$GITHUB_OUTPUT" in retrain["run"]
    assert steps.index(retrain) < steps.index(gate)
    command = " ".join(gate["run"].split())
    assert command.startswith('loopml gate "$CANDIDATE" --baseline "$MODEL@$ALIAS"')
    assert "--format markdown | tee gate.md" in command and "--promote" not in command
    assert gate["env"]["CANDIDATE"] == "${{ steps.retrain.outputs.candidate }}"
    assert job["env"]["ALIAS"] == "champion"
    assert "continue-on-error" not in gate  # a failed gate fails the check on the pull request

    after = steps[steps.index(gate) + 1 :]
    summary = next(s for s in after if "$GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert summary["run"].strip() == 'cat gate.md >> "$GITHUB_STEP_SUMMARY"'
    assert "!cancelled()" in summary["if"]  # written when the gate failed too
    moves = [s for s in steps if "loopml models alias" in s.get("run", "")]
    assert len(moves) == 1 and moves[0] in after
    assert moves[0]["if"] == "${{ steps.gate.outcome == 'success' }}"
    # everything after the gate is conditional on it: nothing else registers or promotes
    assert all("if" in s for s in after)
    for name in ("pipeline.py", "candidate.py", "params.yaml", "README.md"):
        assert (EXAMPLE / name).is_file(), name


# --- a runner for the workflow's own steps ------------------------------------------------------------------


class Ctx:
    """A context object of GitHub expressions: attribute access into a mapping; a missing key is null
    (``''``) when ``lenient`` (secrets), otherwise an error, so a typo in the workflow fails the test."""

    def __init__(self, values: Mapping[str, Any], lenient: bool = False) -> None:
        self._values, self._lenient = values, lenient

    def __getattr__(self, name: str) -> Any:
        if name not in self._values:
            if self._lenient:
                return ""
            raise AssertionError(f"the workflow reads {name!r}, which this context does not have")
        value = self._values[name]
        return Ctx(value, self._lenient) if isinstance(value, Mapping) else value


@dataclass
class Context:
    secrets: dict[str, str] = field(default_factory=dict)
    github: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: bool = False


_STATUS = re.compile(r"\b(success|failure|always|cancelled)\(\)")


def _python(expression: str) -> str:
    """A GitHub expression as Python: strings, contexts, comparisons, && || ! and the status functions."""
    out = expression.strip()
    out = out.replace("&&", " and ").replace("||", " or ")
    out = re.sub(r"!(?!=)", " not ", out)
    return re.sub(
        r"\b(true|false|null)\b", lambda m: {"true": "True", "false": "False"}.get(m[1], "None"), out
    )


def evaluate(text: str, ctx: Context, *, condition: bool = False) -> Any:
    """``text`` with each ``${{ ... }}`` evaluated; an ``if:`` (``condition``) may also be a bare expression,
    and without a status function it means ``success() && (...)``, as on GitHub."""
    namespace = {
        "secrets": Ctx(ctx.secrets, lenient=True),
        "github": Ctx(ctx.github),
        "steps": Ctx(ctx.steps),
        "success": lambda: not ctx.failed,
        "failure": lambda: ctx.failed,
        "always": lambda: True,
        "cancelled": lambda: False,
    }

    def value(expression: str) -> Any:
        return eval(_python(expression), {"__builtins__": {}}, namespace)

    if condition:
        inner = text.strip()
        match = re.fullmatch(r"\$\{\{(.*)\}\}", inner, re.DOTALL)
        inner = match[1] if match else inner
        if not _STATUS.search(inner):
            inner = f"success() && ({inner})"
        return bool(value(inner))
    whole = re.fullmatch(r"\$\{\{(.*?)\}\}", text.strip(), re.DOTALL)
    if whole:
        return value(whole[1])
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(value(m[1])), text)


@dataclass
class Job:
    outcomes: dict[str, str]  # step name -> success, failure or skipped
    summary: str
    log: str
    uploaded: list[str]

    @property
    def passed(self) -> bool:
        return "failure" not in self.outcomes.values()


def run_job(workflow: Mapping[str, Any], workdir: Path, *, database_url: str, pr: int, sha: str) -> Job:
    """Runs the workflow's job in ``workdir`` (the checkout) the way a GitHub runner would."""
    job = the_job(workflow)
    ctx = Context(
        github={
            "actor": "octocat",
            "sha": sha,
            "event_name": "pull_request",
            "event": {"pull_request": {"number": pr}},
        }
    )
    summary_file, output_file = workdir / "summary.md", workdir / "output.txt"
    summary_file.touch()
    env = {**os.environ, "GITHUB_SHA": sha, "GITHUB_STEP_SUMMARY": str(summary_file), "CI": "true"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    for key, text in job["env"].items():
        env[key] = str(evaluate(str(text), ctx))
    service_url = env["LOOPML_DATABASE_URL"]
    assert service_url.startswith("postgresql+psycopg://") and "@localhost:5432/" in service_url
    env["LOOPML_DATABASE_URL"] = database_url  # this test's PostgreSQL stands in for the service container
    outcomes: dict[str, str] = {}
    log: list[str] = []
    uploaded: list[str] = []
    for number, step in enumerate(job["steps"]):
        name = step.get("name") or step.get("uses") or f"step {number}"
        if not evaluate(str(step.get("if", "success()")), ctx, condition=True):
            outcome = "skipped"
        elif "uses" in step:
            outcome = _use(step, workdir, uploaded)
        elif step["run"].startswith("pip install"):
            assert step["run"].strip() == 'pip install "loopml[postgres]"'
            outcome = "success"  # the test's environment has loopml installed, with PostgreSQL support
        else:
            step_env = {**env, **{k: str(evaluate(str(v), ctx)) for k, v in step.get("env", {}).items()}}
            output_file.write_text("")
            step_env["GITHUB_OUTPUT"] = str(output_file)
            script = workdir / f"step-{number}.sh"
            script.write_text(str(evaluate(step["run"], ctx)))
            done = subprocess.run(
                ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                cwd=workdir,
                env=step_env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            log.append(f"--- {name} (exit {done.returncode})\n{done.stdout}{done.stderr}")
            outcome = "success" if done.returncode == 0 else "failure"
            outputs = dict(line.split("=", 1) for line in output_file.read_text().splitlines() if "=" in line)
            if "id" in step:
                ctx.steps[step["id"]] = {"outcome": outcome, "outputs": outputs}
        if outcome == "skipped" and "id" in step:
            ctx.steps[step["id"]] = {"outcome": "skipped", "outputs": {}}
        ctx.failed = ctx.failed or outcome == "failure"
        outcomes[name] = outcome
    return Job(outcomes, summary_file.read_text(), "\n".join(log), uploaded)


def _use(step: Mapping[str, Any], workdir: Path, uploaded: list[str]) -> str:
    action = step["uses"].split("@")[0]
    if action in ("actions/checkout", "actions/setup-python"):
        return "success"  # the checkout is the copied folder; Python is the test's own
    if action == "actions/upload-artifact":
        path = workdir / step["with"]["path"]
        assert path.is_file(), f"{path.name} is not there to upload"
        uploaded.append(path.name)
        return "success"
    raise AssertionError(f"this test does not know how to run {step['uses']}")


def checkout(tmp_path: Path, pr: int, params: Mapping[str, Any] | None = None) -> Path:
    """A fresh checkout of the example as a pull request leaves it (its params.yaml changed, maybe)."""
    workdir = tmp_path / f"pr-{pr}"
    shutil.copytree(EXAMPLE, workdir, ignore=shutil.ignore_patterns("__pycache__"))
    if params is not None:
        current = yaml.safe_load((workdir / "params.yaml").read_text())
        (workdir / "params.yaml").write_text(yaml.safe_dump({**current, **params}))
    return workdir


# --- the workflow, run --------------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.slow
def test_three_pull_requests_first_model_a_bad_change_and_a_better_one(
    postgres_schema_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import loopml as lm
    from loopml import tracking

    workflow = load_workflow()  # the jobs share LOOPML_HOME's blobs as a team shares LOOPML_ARTIFACT_ROOT

    # 1. the first pull request: no champion yet, so rules against the baseline pass and say why
    first = run_job(workflow, checkout(tmp_path, 1), database_url=postgres_schema_url, pr=1, sha="a" * 40)
    assert first.passed, first.log
    assert first.summary.startswith(
        "## Gate PASSED: `failure-predictor:1` against no baseline (first model)\n"
    ), first.summary
    assert first.uploaded == ["model-card.md"]
    assert "## Gate decisions" in (tmp_path / "pr-1" / "model-card.md").read_text()

    # 2. a change that makes the model worse: the gate fails the job, the summary says why, no alias moves
    bad = run_job(
        workflow,
        checkout(tmp_path, 2, {"learning_rate": 0.01}),
        database_url=postgres_schema_url,
        pr=2,
        sha="b" * 40,
    )
    assert not bad.passed
    gate_step = next(name for name in bad.outcomes if name.startswith("Gate"))
    assert bad.outcomes[gate_step] == "failure", bad.log
    assert bad.outcomes["Write the gate's report as the job summary"] == "success"
    assert [o for n, o in bad.outcomes.items() if "champion" in n and n != gate_step] == ["skipped"]
    assert bad.uploaded == []
    assert bad.summary.startswith("## Gate FAILED: `failure-predictor:2` against `failure-predictor:1`\n")
    assert "| `f1 >= baseline - 0.01` |" in bad.summary and "**FAIL**" in bad.summary

    # 3. a better model: judged against the champion, passes, and becomes the champion
    better = run_job(
        workflow,
        checkout(tmp_path, 3, {"n_estimators": 200}),
        database_url=postgres_schema_url,
        pr=3,
        sha="c" * 40,
    )
    assert better.passed, better.log
    assert better.summary.startswith("## Gate PASSED: `failure-predictor:3` against `failure-predictor:1`\n")
    assert "no baseline" not in better.summary

    # what the shared Store holds afterwards: read back through the API, as the team would
    monkeypatch.setenv("LOOPML_DATABASE_URL", postgres_schema_url)
    tracking.reset()
    assert lm.get_model_version("failure-predictor@champion").version == 3
    client = tracking.get_client()
    versions = {v: lm.get_model_version(f"failure-predictor:{v}") for v in (1, 2, 3)}
    gates = {v: [g.passed for g in client.store.models.gate_records(mv.id)] for v, mv in versions.items()}
    assert gates == {1: [True], 2: [False], 3: [True]}  # the rejected candidate keeps its reasons
    events = lm.registry.model_history("failure-predictor")
    moves = [e for e in events if e.action == "alias.set"]
    assert [(e.details["version"], e.reason) for e in moves] == [
        (1, "gate passed on pull request #1"),
        (3, "gate passed on pull request #3"),
    ]
    assert {e.actor for e in events} == {"ci-octocat"}
