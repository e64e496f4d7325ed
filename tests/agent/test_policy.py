"""``loopml.yaml`` policies: the shape the agent reads (typed, durations in ms, pipelines found from the
policy's folder), every mistake of the file at its line, and the checks against a real Store and real code."""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml import tracking
from loopml.agent import Policy, check_policy, load_policy, parse_policy
from loopml.errors import InvalidArgumentError, NotFoundError, PolicyError

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS

FULL = """\
models:
  failure-predictor:
    deployment: sensors-live
    target: failure
    triggers:
      - alert: sensors-drift
      - alert: sensors-drift
        rule: "f1<0.80"
      - schedule: "0 3 * * 1"
      - dataset: demo-sensors
    cooldown: 6h
    retrain:
      pipeline: flows/retrain_flow.py:train
      params: {n_estimators: 200}
      data:
        param: data
        base: demo-sensors@latest
        feedback: {since: 14d, min_rows: 500}
        exclude: [operator_id]
      output: fit
    gate:
      rules: ["f1 >= baseline - 0.01", "accuracy >= 0.6"]
      min_rows: 200
      holdout: 0.3
    rollout:
      shadow: {duration: 1h, min_requests: 200}
      steps: [10, 50]
      min_requests: 500
      min_duration: 90m
      rollback:
        error_rate: {max_increase: 0.02}
        latency_p95_ms: {max_ratio: 1.5}
        performance: {metric: f1, max_drop: 0.05, min_label_coverage: 0.3}
        alpha: 0.05
    approval: true
    notify: [{type: log}, {type: webhook, url: "https://hooks.example.com/x"}]
"""

MINIMAL = """\
models:
  failure-predictor:
    target: failure
    triggers:
      - schedule: "0 3 * * *"
    retrain:
      pipeline: flows/retrain_flow.py:train
    gate:
      rules: "f1 >= baseline"
"""

FLOW = """\
import loopml as lm

@lm.pipelines.step
def fit(data: object, n_estimators: int = 100) -> int:
    return n_estimators

@lm.pipelines.pipeline
def train(data: object = None, n_estimators: int = 100) -> None:
    fit(data, n_estimators)

not_a_pipeline = 3
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder that is not the working folder, with a pipeline file in a sub-folder."""
    folder = tmp_path / "project"
    (folder / "flows").mkdir(parents=True)
    (folder / "flows" / "retrain_flow.py").write_text(FLOW)
    return folder


def write(project: Path, text: str) -> Path:
    path = project / "loopml.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def mistakes(path: Path, *, check: bool = False) -> list[PolicyError]:
    with pytest.raises(PolicyError) as caught:
        load_policy(path, check=check)
    return caught.value.errors


def line_of(text: str, needle: str) -> int:
    """The 1-based line of ``text`` holding ``needle`` (exactly one)."""
    found = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


class TestShape:
    def test_the_full_example_loads_into_typed_objects(self, project: Path) -> None:
        policy = load_policy(write(project, FULL))
        assert isinstance(policy, Policy) and list(policy.models) == ["failure-predictor"]
        mp = policy.models["failure-predictor"]
        assert mp is policy.model("failure-predictor")
        assert (mp.name, mp.deployment, mp.target, mp.approval) == (
            "failure-predictor",
            "sensors-live",
            "failure",
            True,
        )
        assert [t.kind for t in mp.triggers] == ["alert", "alert", "schedule", "dataset"]
        assert mp.triggers[1].rule == "f1 < 0.8"  # canonical, as the monitor stores it
        assert mp.cooldown_ms == 6 * HOUR_MS
        retrain = mp.retrain
        assert retrain.pipeline == f"{(project / 'flows' / 'retrain_flow.py').resolve()}:train"
        assert retrain.params == {"n_estimators": 200} and retrain.output == "fit"
        assert retrain.data is not None and retrain.data.feedback is not None
        assert retrain.data.base == "demo-sensors@latest" and retrain.data.exclude == ["operator_id"]
        assert (retrain.data.feedback.since_ms, retrain.data.feedback.min_rows) == (14 * DAY_MS, 500)
        assert mp.gate.rules == ["f1 >= baseline - 0.01", "accuracy >= 0.6"]
        assert (mp.gate.min_rows, mp.gate.holdout) == (200, 0.3)
        rollout = mp.rollout
        assert rollout.shadow is not None and rollout.shadow.duration_ms == HOUR_MS
        assert (rollout.steps, rollout.min_requests, rollout.min_duration_ms) == ([10, 50], 500, 90 * 60_000)
        rb = rollout.rollback
        assert rb.error_rate is not None and rb.error_rate.max_increase == 0.02
        assert rb.latency_p95_ms is not None and rb.latency_p95_ms.max_ratio == 1.5
        assert rb.performance is not None and rb.performance.metric == "f1"
        assert (rb.performance.max_drop, rb.performance.min_label_coverage, rb.alpha) == (0.05, 0.3, 0.05)
        assert [type(n).__name__ for n in mp.notifiers()] == ["LogNotifier", "WebhookNotifier"]
        assert policy.path == str(project / "loopml.yaml")

    def test_defaults_fill_what_is_left_out(self, project: Path) -> None:
        mp = load_policy(write(project, MINIMAL)).models["failure-predictor"]
        assert mp.deployment == "failure-predictor" and mp.approval is False and mp.notify == []
        assert mp.cooldown_ms == HOUR_MS and mp.gate.rules == ["f1 >= baseline"]
        assert (mp.gate.min_rows, mp.gate.holdout, mp.retrain.data, mp.retrain.output) == (
            200,
            0.3,
            None,
            None,
        )
        assert mp.rollout.shadow is None and mp.rollout.steps == [10, 50]
        assert mp.rollout.min_duration_ms == HOUR_MS and mp.rollout.rollback.performance is None
        assert mp.rollout.rollback.error_rate is not None and mp.rollout.rollback.min_requests == 30

    def test_a_schedule_says_when_it_fires_next_in_utc(self, project: Path) -> None:
        trigger = load_policy(write(project, FULL)).models["failure-predictor"].triggers[2]
        monday_2024_01_01 = 1_704_067_200_000  # 00:00 UTC
        assert trigger.next_fire_ms(monday_2024_01_01) == monday_2024_01_01 + 3 * HOUR_MS
        assert (
            trigger.next_fire_ms(monday_2024_01_01 + 3 * HOUR_MS)
            == monday_2024_01_01 + 7 * DAY_MS + 3 * HOUR_MS
        )

    def test_the_file_comes_from_loopml_policy_or_the_working_folder(
        self, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = write(project, MINIMAL)
        with pytest.raises(PolicyError, match=r"no policy file: loopml.yaml does not exist"):
            load_policy()
        monkeypatch.setenv("LOOPML_POLICY", str(path))
        assert load_policy().path == str(path)
        monkeypatch.setenv("LOOPML_POLICY", str(tmp_path / "nowhere.yaml"))
        with pytest.raises(PolicyError, match=r"\$LOOPML_POLICY names .*nowhere.yaml"):
            load_policy()
        monkeypatch.chdir(project)
        monkeypatch.delenv("LOOPML_POLICY")
        assert load_policy().models["failure-predictor"].target == "failure"

    def test_a_policy_error_is_an_invalid_argument(self) -> None:
        with pytest.raises(InvalidArgumentError):
            parse_policy("models: {}\n")


class TestMistakesInTheFile:
    def test_a_typod_key_names_its_line_and_the_key_meant(self, project: Path) -> None:
        text = MINIMAL.replace("    target: failure", "    traget: failure")
        [error] = mistakes(write(project, text))  # and no second "target is missing"
        assert error.line == line_of(text, "traget") and error.column == 5
        assert error.problem == "unknown key 'traget': did you mean 'target'?"
        assert str(error).startswith(
            f"{project / 'loopml.yaml'}, line {error.line}, models.failure-predictor"
        )

    def test_an_unknown_key_far_from_any_lists_the_keys(self, project: Path) -> None:
        text = MINIMAL.replace("    gate:\n", "    colour: blue\n    gate:\n")
        [error] = mistakes(write(project, text))
        assert error.line == line_of(
            text, "colour"
        ) and "the keys here are deployment, target, triggers" in str(error)

    def test_a_missing_key_is_shown_at_the_mapping_that_needs_it(self, project: Path) -> None:
        text = MINIMAL.replace("    target: failure\n", "")
        [error] = mistakes(write(project, text))
        assert error.line == line_of(text, "failure-predictor:")
        assert "the key 'target' is missing (the label column" in error.problem

    def test_yaml_that_is_not_yaml(self, project: Path) -> None:
        text = MINIMAL.replace('      - schedule: "0 3 * * *"', '      - schedule: "0 3 * * *\n   bad: [')
        [error] = mistakes(write(project, text))
        assert "not valid YAML" in error.problem and error.line is not None
        assert line_of(text, "schedule") <= error.line <= len(text.splitlines()) + 1
        tab = mistakes(write(project, "models:\n\tfailure-predictor: {}\n"))[0]
        assert tab.line == 2 and "not valid YAML" in str(tab)

    def test_a_wrong_type(self, project: Path) -> None:
        text = MINIMAL + "    approval: maybe\n"
        [error] = mistakes(write(project, text))
        assert error.line == line_of(text, "approval") and error.key == "models.failure-predictor.approval"
        assert error.problem.startswith("expected true or false, not 'maybe' (true: promotion waits")

    def test_a_gate_rule_that_does_not_parse_points_at_the_rule(self, project: Path) -> None:
        text = MINIMAL.replace(
            'rules: "f1 >= baseline"', 'rules:\n        - "f1 >= baseline"\n        - "f1 >= = 2"'
        )
        [error] = mistakes(write(project, text))
        assert error.line == line_of(text, '"f1 >= = 2"') and error.loc[-2:] == ("rules", 1)
        assert "expected a number" in error.problem and "^" in error.problem

    @pytest.mark.parametrize(
        ("cron", "said"),
        [
            ("0 3 * * 8", "not a cron expression"),
            ("0 3 * *", "has 4 fields"),
            ("every monday", "has 2 fields"),
        ],
    )
    def test_a_cron_expression_that_does_not_parse(self, project: Path, cron: str, said: str) -> None:
        text = MINIMAL.replace('"0 3 * * *"', f'"{cron}"')
        [error] = mistakes(write(project, text))
        assert error.line == line_of(text, "schedule") and said in error.problem
        assert "minute hour day-of-month month day-of-week (UTC)" in error.problem

    def test_every_mistake_is_listed_with_its_line_in_file_order(self, project: Path) -> None:
        text = FULL.replace("cooldown: 6h", "cooldown: 6 hours").replace(
            "alert: sensors-drift\n", "alrt: x\n", 1
        )
        text = text.replace("steps: [10, 50]", "steps: [50, 10]").replace("metric: f1,", "metric: f11,")
        path = write(project, text)
        with pytest.raises(PolicyError) as caught:
            load_policy(path)
        errors = caught.value.errors
        assert [e.line for e in errors] == [
            line_of(text, "alrt"),
            line_of(text, "cooldown"),
            line_of(text, "steps"),
            line_of(text, "metric: f11"),
        ]
        assert (
            "did you mean 'alert'" in errors[0].problem and "'6 hours' is not a duration" in errors[1].problem
        )
        assert "canary steps go up" in errors[2].problem and "did you mean 'f1'" in errors[3].problem
        message = str(caught.value)
        assert message.startswith(f"{path} has 4 mistakes:\n")
        assert all(f"line {e.line}," in message for e in errors)

    def test_a_key_written_twice(self, project: Path) -> None:
        text = MINIMAL + "    cooldown: 1h\n    cooldown: 2h\n"
        [error] = mistakes(write(project, text))
        first, second = line_of(text, "cooldown: 1h"), line_of(text, "cooldown: 2h")
        assert error.line == second and f"appears twice, at lines {first} and {second}" in error.problem

    @pytest.mark.parametrize(
        ("trigger", "said"),
        [
            ("{alert: a, schedule: '0 3 * * *'}", "not alert and schedule: write each as its own item"),
            ("{rule: 'f1 < 0.8'}", "a trigger is one of `alert: MONITOR`"),
            ("{dataset: d, rule: 'f1 < 0.8'}", "`rule:` belongs to an `alert:` trigger"),
            ("{alert: a, rule: 'f1 <'}", "alert rule"),
            ("{dataset: 'no/slash'}", "is not allowed"),
        ],
    )
    def test_a_trigger_is_exactly_one_thing(self, project: Path, trigger: str, said: str) -> None:
        text = MINIMAL.replace("""- schedule: "0 3 * * *\"""", f"- {trigger}")
        [error] = mistakes(write(project, text))
        assert error.line == line_of(text, trigger) and said in error.problem

    @pytest.mark.parametrize(
        ("old", "new", "said"),
        [
            (
                "      pipeline: flows/retrain_flow.py:train",
                "      pipeline: train",
                "FILE.py:NAME or MODULE:NAME",
            ),
            ('rules: "f1 >= baseline"', "rules: []", "at least 1 item"),
            (
                "    retrain:\n",
                "    rollout: {steps: [10, 150]}\n    retrain:\n",
                "less than or equal to 100",
            ),
            ("    retrain:\n", "    cooldown: -5\n    retrain:\n", "cannot be negative"),
            ("    gate:\n", "      data: {param: df}\n    gate:\n", "data needs `base:`"),
        ],
    )
    def test_values_out_of_range(self, project: Path, old: str, new: str, said: str) -> None:
        text = MINIMAL.replace(old, new)
        assert text != MINIMAL
        [error] = mistakes(write(project, text))
        assert said in error.problem and error.line == line_of(text, new.strip().splitlines()[0])

    def test_an_empty_file_and_one_that_is_not_a_mapping(self, project: Path) -> None:
        assert "the policy is empty" in str(mistakes(write(project, "# nothing yet\n"))[0])
        [error] = mistakes(write(project, "- models\n"))
        assert error.line == 1 and "a mapping with the key `models:`, not a list" in error.problem
        assert "at least 1 item" in mistakes(write(project, "models: {}\n"))[0].problem


# --- against the Store and the code -------------------------------------------------------------------------


def _sensors(n: int, rng: np.random.Generator) -> pd.DataFrame:
    temperature = rng.normal(60, 5, n)
    return pd.DataFrame(
        {
            "temperature": temperature,
            "vibration": rng.normal(0, 1, n),
            "operator_id": rng.integers(1, 50, n).astype(float),
            "failure": (temperature + rng.normal(0, 3, n) > 62).astype(int),
        }
    )


@pytest.fixture
def world(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite and PostgreSQL: the model (operator_id personal) as champion, its dataset, a monitor of it,
    and another model with a monitor of its own."""
    monkeypatch.setenv("LOOPML_DATABASE_URL", store_url)
    tracking.reset()
    rng = np.random.default_rng(7)
    train = _sensors(300, rng)
    features = ["temperature", "vibration", "operator_id"]
    model = LogisticRegression().fit(train[features], train["failure"])
    lm.register_model(
        "failure-predictor", model, input_example=train[features].head(), personal=["operator_id"]
    )
    lm.set_alias("failure-predictor", "champion", 1)
    holdout = lm.data.add("demo-sensors", _sensors(200, rng))
    lm.evaluate("failure-predictor:1", holdout, target="failure")
    lm.monitoring.add_monitor(
        "sensors-drift", "failure-predictor@champion", rules=["drift_share >= 0.3 for 2 windows", "f1 < 0.8"]
    )
    other = LogisticRegression().fit(train[["temperature"]], train["failure"])
    lm.register_model("pump-predictor", other, input_example=train[["temperature"]].head())
    lm.evaluate("pump-predictor:1", holdout, target="failure")
    lm.monitoring.add_monitor("pump-drift", "pump-predictor:1", rules=["drift_share >= 0.3"])


@pytest.mark.usefixtures("world")
class TestCheckAgainstTheStore:
    def test_a_right_policy_passes(self, project: Path) -> None:
        policy = load_policy(write(project, FULL), check=True)
        assert check_policy(policy) == []
        pipeline = policy.models["failure-predictor"].retrain.load_pipeline()
        assert pipeline.name == "train" and "n_estimators" in pipeline.parameters

    def test_a_module_pipeline_is_imported_from_the_policys_folder(
        self, project: Path, tmp_path: Path
    ) -> None:
        module = f"flow_{uuid.uuid4().hex[:8]}"
        (project / f"{module}.py").write_text(FLOW)
        assert Path.cwd() == tmp_path  # not the project folder
        text = MINIMAL.replace("flows/retrain_flow.py:train", f"{module}:train")
        policy = load_policy(write(project, text), check=True)
        assert policy.models["failure-predictor"].retrain.pipeline == f"{module}:train"
        assert policy.models["failure-predictor"].retrain.folder == project.resolve()

    @pytest.mark.parametrize(
        ("ref", "said"),
        [
            ("flows/nowhere.py:train", "No file"),
            ("flows/retrain_flow.py:trian", "has no 'trian'"),
            ("flows/retrain_flow.py:not_a_pipeline", "is not a pipeline: decorate it with @lm.pipeline"),
            ("no_such_module_xyz:train", "Cannot import 'no_such_module_xyz'"),
        ],
    )
    def test_an_unknown_pipeline(self, project: Path, ref: str, said: str) -> None:
        text = MINIMAL.replace("flows/retrain_flow.py:train", ref)
        [error] = mistakes(write(project, text), check=True)
        assert error.line == line_of(text, "pipeline:") and said in error.problem
        assert error.problem.startswith("the pipeline ") and "cannot be loaded" in error.problem

    def test_a_pipeline_that_fails_to_import(self, project: Path) -> None:
        (project / "flows" / "broken_flow.py").write_text(
            "import loopml\nraise RuntimeError('half-written')\n"
        )
        text = MINIMAL.replace("retrain_flow.py", "broken_flow.py")
        [error] = mistakes(write(project, text), check=True)
        assert error.line == line_of(text, "pipeline:")
        assert "importing the pipeline" in error.problem and "RuntimeError: half-written" in error.problem

    def test_parameters_the_pipeline_does_not_take(self, project: Path) -> None:
        text = MINIMAL.replace(
            "      pipeline: flows/retrain_flow.py:train\n",
            "      pipeline: flows/retrain_flow.py:train\n      params: {n_estimator: 5}\n"
            "      data: {param: frame, base: demo-sensors}\n",
        )
        first, second = mistakes(write(project, text), check=True)
        assert (first.line, second.line) == (line_of(text, "n_estimator"), line_of(text, "param: frame"))
        assert "no parameter 'n_estimator' (did you mean 'n_estimators'?)" in first.problem
        assert "no parameter 'frame' to receive the data" in second.problem and second.key.endswith(
            "data.param"
        )

    def test_a_trigger_naming_a_monitor_that_does_not_exist(self, project: Path) -> None:
        text = MINIMAL.replace('- schedule: "0 3 * * *"', "- alert: sensor-drift")
        [error] = mistakes(write(project, text), check=True)
        assert error.line == line_of(text, "alert: sensor-drift")
        assert error.problem == (
            "no monitor 'sensor-drift' (did you mean 'sensors-drift'?): add it with `loopml monitor add`, "
            "or fix the name"
        )

    def test_a_monitor_of_another_model_or_without_that_rule(self, project: Path) -> None:
        text = MINIMAL.replace(
            '- schedule: "0 3 * * *"', "- alert: pump-drift\n      - {alert: sensors-drift, rule: 'f1 < 0.7'}"
        )
        first, second = mistakes(write(project, text), check=True)
        assert first.line == line_of(text, "pump-drift")
        assert "watches the model 'pump-predictor', not 'failure-predictor'" in first.problem
        assert (
            second.line == line_of(text, "f1 < 0.7")
            and "has no rule 'f1 < 0.7'; its rules:" in second.problem
        )
        assert "'f1 < 0.8'" in second.problem

    def test_datasets_models_and_notifiers_that_do_not_exist_or_build(self, project: Path) -> None:
        text = (
            MINIMAL.replace("failure-predictor:", "failure-predicter:")
            .replace('- schedule: "0 3 * * *"', "- dataset: demo-sensor")
            .replace("    gate:\n", "      data: {base: 'demo-sensors:9'}\n    gate:\n")
            + "    notify: [{type: webhook, uri: 'https://x.example'}]\n"
        )
        errors = mistakes(write(project, text), check=True)
        assert [e.line for e in errors] == [
            line_of(text, "failure-predicter:"),
            line_of(text, "- dataset: demo-sensor"),
            line_of(text, "demo-sensors:9"),
            line_of(text, "notify"),
        ]
        assert (
            "no registered model 'failure-predicter' (did you mean 'failure-predictor'?)" in errors[0].problem
        )
        assert "no dataset 'demo-sensor' (did you mean 'demo-sensors'?)" in errors[1].problem
        assert "no dataset 'demo-sensors:9' (" in errors[2].problem
        assert "this notifier cannot be built: unknown key 'uri'" in errors[3].problem

    def test_feedback_would_feed_a_personal_column_into_the_features(self, project: Path) -> None:
        text = FULL.replace("        exclude: [operator_id]\n", "")
        [error] = mistakes(write(project, text), check=True)
        assert error.line == line_of(text, "feedback:")
        assert "would include operator_id, personal data by the model's signature" in error.problem
        assert "Add `exclude: [operator_id]` under data" in error.problem
        listed = FULL.replace("exclude: [operator_id]", "features: [temperature, operator_id]")
        [error] = mistakes(write(project, listed), check=True)
        assert error.line == line_of(listed, "features:") and "drop it from `features:`" in error.problem
        without = FULL.replace("exclude: [operator_id]", "features: [temperature, vibration]")
        assert check_policy(load_policy(write(project, without))) == []

    def test_check_true_raises_every_mistake_at_once_and_check_policy_returns_them(
        self, project: Path
    ) -> None:
        text = MINIMAL.replace('- schedule: "0 3 * * *"', "- alert: nope").replace(
            "retrain_flow", "nope_flow"
        )
        path = write(project, text)
        policy = load_policy(path)  # the file alone is right
        found = check_policy(policy)
        assert [e.line for e in found] == [line_of(text, "alert: nope"), line_of(text, "pipeline:")]
        with pytest.raises(PolicyError, match=r"has 2 mistakes") as caught:
            load_policy(path, check=True)
        assert [str(e) for e in caught.value.errors] == [str(e) for e in found]

    def test_a_policy_names_its_models(self, project: Path) -> None:
        policy = load_policy(write(project, MINIMAL))
        with pytest.raises(NotFoundError, match=r"did you mean 'failure-predictor'"):
            policy.model("failure-predicter")
