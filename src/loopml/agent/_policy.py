"""Policies: what the agent does for each model, written in ``loopml.yaml`` next to the project's code.

A policy says, per registered model, when to retrain (triggers), how (a pipeline with its parameters and
the data it receives), how a candidate proves itself (gate rules on labelled rows it never trained on), how
it takes traffic (shadow, canary steps, rollback conditions), who is told, and whether a person approves
the promotion::

    models:
      failure-predictor:
        deployment: failure-predictor        # default: the model's name
        target: failure                      # the label column
        triggers:
          - alert: sensors-drift             # a monitor of this model: any alert it raises
          - alert: sensors-perf
            rule: "f1 < 0.8"                 #   or only this rule's alerts
          - schedule: "0 3 * * 1"            # cron, five fields, UTC
          - dataset: demo-sensors            # a new version of this dataset
        cooldown: 6h                         # no retrain within this time of the last one
        retrain:
          pipeline: pipeline.py:train        # FILE.py:NAME or MODULE:NAME, from this file's folder
          params: {n_estimators: 200}
          data:                              # what the pipeline's data parameter receives
            param: data
            base: demo-sensors@latest        # a dataset version's rows (optional)
            feedback: {since: 14d, min_rows: 500}   # labelled predictions of the log (optional)
            exclude: [customer_email]        # columns left out of the features
          output: train                      # the step whose output is the model (default: the last)
        gate:
          rules: ["f1 >= baseline - 0.01", "roc_auc >= 0.8"]
          min_rows: 200                      # labelled rows strictly newer than the training data
          holdout: 0.3                       # share of the newest labelled rows kept for the gate
        rollout:
          shadow: {duration: 1h, min_requests: 200}  # optional, before the canary
          steps: [10, 50]                    # canary percents; promotion after the last ([]: at once)
          min_requests: 500                  # per step, on the canary
          min_duration: 1h                   # per step
          rollback:
            error_rate: {max_increase: 0.02}          # canary minus champion
            latency_p95_ms: {max_ratio: 1.5}          # canary over champion
            performance: {metric: f1, max_drop: 0.05, min_label_coverage: 0.3}
            alpha: 0.05                      # significance of the tests where counts are small
            min_requests: 30                 # per side, before error rate or latency may decide
        approval: false                      # true: promotion waits for `loopml approve`
        notify: [{type: log}, {type: webhook, url: "https://hooks.example.com/x"}]

Durations are text (``90s``, ``15m``, ``6h``, ``14d``, ``1w``) or a number of seconds; the objects hold them
as milliseconds (``cooldown_ms``, ``min_duration_ms``, ``feedback.since_ms``, ``shadow.duration_ms``).

**Two checks.** ``load_policy`` checks the file on its own: YAML syntax, keys (a typo'd key gets "did you
mean"), types and ranges, each gate rule, alert rule and cron expression, the pipeline reference's form.
``check_policy`` checks it against the world: each pipeline imports and is a ``Pipeline`` that takes the
parameters given, each monitor exists and watches that model, each dataset exists, the model is
registered, each notifier's config builds, and feedback never feeds a personal column (which the
prediction log keeps only hashed or drops) into a retrained model's features. ``load_policy(check=True)``
does both. Every mistake is a ``PolicyError`` naming the file and line; with several, one ``PolicyError``
lists them all (``.errors``), so a user fixes the file in one go.
"""

from __future__ import annotations

import difflib
import inspect
import itertools
import os
import sys
import types
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from loopml.agent._yaml_lines import KEY_MARK, YamlSource, duplicate_keys
from loopml.errors import LoopmlError, NotFoundError, PolicyError

if TYPE_CHECKING:
    from loopml.monitoring import Notifier
    from loopml.pipelines import Pipeline
    from loopml.tracking import TrackingClient

POLICY_FILE = "loopml.yaml"
POLICY_ENV = "LOOPML_POLICY"
Loc = tuple[str | int, ...]


def _fail(message: str) -> PydanticCustomError:
    # the message goes through the context: braces in it are not format fields
    return PydanticCustomError("policy", "{message}", {"message": message})


# --- value types --------------------------------------------------------------------------------------------


def _to_ms(value: Any) -> Any:
    from loopml.monitoring._windows import parse_duration

    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail(f"a duration is text such as '90s', '15m', '6h', '14d' (or seconds), not {_shown(value)}")
    try:
        return parse_duration(value)
    except LoopmlError as exc:
        raise _fail(str(exc)) from None


def _name(value: str) -> str:
    from loopml.data import check_name

    try:
        return check_name(value, "name")
    except LoopmlError as exc:
        raise _fail(str(exc)) from None


def _gate_rule(value: str) -> str:
    from loopml.registry._gate import parse_rule

    try:
        parse_rule(value)
    except LoopmlError as exc:
        said = str(exc)
        raise _fail(
            said if value.strip() in said else f"the gate rule {value!r} does not parse: {said}"
        ) from None
    return value.strip()


Duration = Annotated[int, BeforeValidator(_to_ms)]
"""Milliseconds, written as ``"6h"``, ``"14d"`` or a number of seconds."""
Name = Annotated[str, AfterValidator(_name)]
GateRule = Annotated[str, AfterValidator(_gate_rule)]
Percent = Annotated[float, Field(gt=0, le=100)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


# --- triggers -----------------------------------------------------------------------------------------------


class Trigger(_Section):
    """What starts a retrain: exactly one of ``alert``, ``schedule`` or ``dataset``."""

    alert: Name | None = None
    """The name of a monitor of this model: any alert it raises starts a retrain (or only ``rule``'s)."""
    rule: str | None = None
    """With ``alert``: only alerts of this rule of the monitor (kept in its canonical form)."""
    schedule: str | None = None
    """A cron expression of five fields (minute hour day-of-month month day-of-week), in UTC."""
    dataset: Name | None = None
    """A dataset's name: each new version of it starts a retrain."""

    @property
    def kind(self) -> Literal["alert", "schedule", "dataset"]:
        return "alert" if self.alert else "schedule" if self.schedule else "dataset"

    @field_validator("rule")
    @classmethod
    def _rule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from loopml.monitoring._rules import Rule

        try:
            return Rule.parse(value).text
        except LoopmlError as exc:
            raise _fail(str(exc)) from None

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from croniter import croniter

        fields = value.split()
        if len(fields) != 5:
            raise _fail(
                f"the schedule {value!r} has {len(fields)} field{'s' * (len(fields) != 1)}; a cron "
                "expression has five: minute hour day-of-month month day-of-week (UTC), as in '0 3 * * 1' "
                "(Mondays 03:00)"
            )
        try:
            croniter(value)
        except (ValueError, KeyError) as exc:
            raise _fail(
                f"the schedule {value!r} is not a cron expression ({exc}); write minute hour day-of-month "
                "month day-of-week (UTC), as in '0 3 * * 1' (Mondays 03:00)"
            ) from None
        return " ".join(fields)

    @model_validator(mode="after")
    def _one_kind(self) -> Trigger:
        given = [k for k in ("alert", "schedule", "dataset") if getattr(self, k) is not None]
        if not given:
            raise _fail(
                "a trigger is one of `alert: MONITOR` (optionally with `rule:`), `schedule: CRON` or "
                "`dataset: NAME`"
            )
        if len(given) > 1:
            raise _fail(
                f"a trigger has one of alert, schedule or dataset, not {' and '.join(given)}: write each as "
                "its own item of the list"
            )
        if self.rule is not None and self.alert is None:
            raise _fail("`rule:` belongs to an `alert:` trigger (the monitor whose rule it is)")
        return self

    def next_fire_ms(self, after_ms: int) -> int:
        """For a schedule: the first time after ``after_ms`` (epoch ms, UTC) the schedule fires."""
        from croniter import croniter

        if self.schedule is None:
            raise ValueError("next_fire_ms is for schedule triggers")
        start = datetime.fromtimestamp(after_ms / 1000, tz=UTC)
        return int(croniter(self.schedule, start).get_next(datetime).timestamp() * 1000)


# --- retraining ---------------------------------------------------------------------------------------------


class FeedbackSelection(_Section):
    """Labelled predictions of the log: rows the deployment answered whose labels have arrived."""

    since_ms: Duration | None = Field(None, alias="since")
    """How far back from now (``14d``); absent: every labelled prediction."""
    min_rows: int = Field(0, ge=0)
    """Fewer labelled rows than this: no retrain yet (the trigger waits)."""


class DataSelection(_Section):
    """What the pipeline's data parameter receives: a dataset version's rows, the feedback rows, or both
    (the base's columns, with feedback rows appended)."""

    param: str = "data"
    """The pipeline's parameter that receives the data frame."""
    base: str | None = None
    """A dataset reference (``sensors@latest``, ``sensors:3``): the rows the feedback is appended to."""
    feedback: FeedbackSelection | None = None
    """Labelled predictions of the log to learn from (optional)."""
    features: list[str] | None = None
    """The feature columns kept (absent: the champion's inputs, less ``exclude``)."""
    exclude: list[str] = Field(default_factory=list)
    """Columns left out of the features (personal columns the log keeps only hashed, for example)."""

    @field_validator("base")
    @classmethod
    def _base(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from loopml.data._refs import parse_ref

        try:
            parse_ref(value)
        except LoopmlError as exc:
            raise _fail(str(exc)) from None
        return value

    @model_validator(mode="after")
    def _something(self) -> DataSelection:
        if self.base is None and self.feedback is None:
            raise _fail("data needs `base:` (a dataset version), `feedback:` (labelled predictions) or both")
        both = sorted(set(self.features or ()) & set(self.exclude))
        if both:
            raise _fail(f"{', '.join(both)} is both in features and in exclude: keep it in one")
        return self


class RetrainPolicy(_Section):
    """How a candidate is trained: a pipeline run with these parameters and data."""

    pipeline: str
    """``FILE.py:NAME`` or ``MODULE:NAME``, from the policy file's folder; a file becomes an absolute path."""
    params: dict[str, Any] = Field(default_factory=dict)
    """The pipeline's parameters (over its defaults)."""
    data: DataSelection | None = None
    """What the pipeline's data parameter receives (absent: the pipeline reads its own data)."""
    output: str | None = None
    """The step whose output is the model (absent: the pipeline's last step)."""
    _folder: Path = PrivateAttr(default_factory=Path.cwd)

    @field_validator("pipeline")
    @classmethod
    def _pipeline(cls, value: str, info: ValidationInfo) -> str:
        module, sep, attr = value.rpartition(":")
        if not sep or not module.strip() or not attr.strip():
            raise _fail(
                f"name the pipeline as FILE.py:NAME or MODULE:NAME (as in 'pipeline.py:train'), not {value!r}"
            )
        folder = _context_folder(info.context)
        if module.endswith(".py") or "/" in module:
            return f"{(folder / module).resolve()}:{attr}"
        return value

    def model_post_init(self, context: Any, /) -> None:
        self._folder = _context_folder(context)

    @property
    def folder(self) -> Path:
        """The policy file's folder: a ``MODULE:NAME`` pipeline is imported from there."""
        return self._folder

    def load_pipeline(self) -> Pipeline[...]:
        """The pipeline (its module imported now); ``NotFoundError`` or ``InvalidArgumentError`` say why
        not."""
        from loopml.pipelines import load_pipeline

        folder = str(self._folder)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        return load_pipeline(self.pipeline)


def _context_folder(context: Any) -> Path:
    folder = context.get("folder") if isinstance(context, Mapping) else None
    return Path(folder).resolve() if folder is not None else Path.cwd()


# --- gate and rollout ---------------------------------------------------------------------------------------


class GatePolicy(_Section):
    """How a candidate is judged against the champion, on labelled rows newer than its training data."""

    rules: list[GateRule] = Field(min_length=1)
    """Gate rules in the registry's language (``f1 >= baseline - 0.01``): every one must pass."""
    min_rows: int = Field(200, ge=1)
    """Fewer labelled gate rows than this: no decision yet."""
    holdout: float = Field(0.3, gt=0, lt=1)
    """The share of the newest labelled rows kept back from training for the gate."""

    @field_validator("rules", mode="before")
    @classmethod
    def _one_rule(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ShadowStage(_Section):
    """A stage before the canary: the candidate sees mirrored traffic and answers no one."""

    duration_ms: Duration = Field(alias="duration")
    """How long the shadow stage lasts at least."""
    min_requests: int = Field(0, ge=0)
    """Mirrored requests needed before the canary starts."""


class ErrorRateCondition(_Section):
    """Roll back when the canary's error rate exceeds the champion's by more than ``max_increase``."""

    max_increase: float = Field(ge=0, le=1)
    """Canary's error rate minus the champion's, as a share (0.02: two points)."""


class LatencyCondition(_Section):
    """Roll back when the canary's p95 latency exceeds the champion's times ``max_ratio``."""

    max_ratio: float = Field(gt=0)
    """Canary's p95 latency over the champion's."""


class PerformanceCondition(_Section):
    """Roll back when the canary's metric is worse than the champion's by more than ``max_drop``, once
    enough of both sides' predictions have labels."""

    metric: str
    """A metric of the registry's evaluations (``f1``, ``accuracy``, ``rmse``, ...)."""
    max_drop: float = Field(ge=0)
    """How much worse the canary may be (for rmse and other errors: how much larger)."""
    min_label_coverage: float = Field(0.3, ge=0, le=1)
    """The share of each side's predictions with a label before this condition may decide."""

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        from loopml.registry._evaluate import METRICS

        if value not in METRICS:
            close = _close(value, METRICS)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise _fail(f"unknown metric {value!r}: {hint}the metrics are {', '.join(METRICS)}")
        return value


class RollbackPolicy(_Section):
    """When a canary is rolled back: each condition compares it with the champion over the same windows."""

    error_rate: ErrorRateCondition | None = ErrorRateCondition(max_increase=0.02)
    """Error-rate condition (default ``{max_increase: 0.02}``; ``null``: none)."""
    latency_p95_ms: LatencyCondition | None = LatencyCondition(max_ratio=1.5)
    """Latency condition (default ``{max_ratio: 1.5}``; ``null``: none)."""
    performance: PerformanceCondition | None = None
    """Performance condition on labelled predictions (default: none)."""
    alpha: float = Field(0.05, gt=0, lt=1)
    """Significance level of the tests that decide where counts are small."""
    min_requests: int = Field(30, ge=1)
    """Requests each side needs before error rate or latency may decide."""


class RolloutPolicy(_Section):
    """How a candidate that passed the gate takes traffic before it is promoted."""

    shadow: ShadowStage | None = None
    """An optional shadow stage before the canary."""
    steps: list[Percent] = Field(default_factory=lambda: [10.0, 50.0])
    """Canary percents, increasing; promotion after the last (``[]``: promotion right after the gate)."""
    min_requests: int = Field(500, ge=0)
    """Canary requests each step needs before it may end."""
    min_duration_ms: Duration = Field(3_600_000, alias="min_duration")
    """How long each step lasts at least."""
    rollback: RollbackPolicy = Field(default_factory=lambda: RollbackPolicy.model_validate({}))
    """When the canary is rolled back."""
    wait_for_performance: bool = False
    """True: after the last step, promotion waits until the performance condition has decided (its labels
    cover enough of both sides); false: a condition still undecided then does not hold promotion back."""

    @field_validator("steps")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise _fail(f"canary steps go up, each larger than the one before, as in [10, 50], not {value}")
        return value


# --- the policy ---------------------------------------------------------------------------------------------


class ModelPolicy(_Section):
    """Everything the agent does for one registered model."""

    deployment: str = ""
    """The deployment the candidate rolls out through (default: the model's name)."""
    target: str
    """The label column: what the model predicts, in the training data and in the logged labels."""
    triggers: list[Trigger] = Field(min_length=1)
    """What starts a retrain (any one of them)."""
    cooldown_ms: Duration = Field(3_600_000, alias="cooldown")
    """No retrain starts within this time of the last one (default ``1h``)."""
    retrain: RetrainPolicy
    """How a candidate is trained."""
    gate: GatePolicy
    """How a candidate is judged against the champion."""
    rollout: RolloutPolicy = Field(default_factory=lambda: RolloutPolicy.model_validate({}))
    """How a candidate takes traffic (default: canary steps 10 and 50)."""
    approval: bool = False
    """True: promotion waits for a person's `loopml approve`."""
    notify: list[dict[str, Any]] = Field(default_factory=list)
    """Notifier configs, as a monitor's (``{type: log}``, ``{type: webhook, url: ...}``)."""
    _name: str = PrivateAttr(default="")

    @property
    def name(self) -> str:
        """The registered model's name (the key under ``models``)."""
        return self._name

    def notifiers(self, environ: Mapping[str, str] | None = None) -> list[Notifier]:
        """The notifiers ``notify`` configures (``ConfigError`` when one cannot be built)."""
        from loopml.monitoring import notifier_from_config

        return [notifier_from_config(config, environ=environ) for config in self.notify]


class Policy(_Section):
    """A project's ``loopml.yaml``: one ``ModelPolicy`` per registered model, by name."""

    models: dict[Name, ModelPolicy] = Field(min_length=1)
    """The models the agent looks after, by their registered name."""
    _source: YamlSource | None = PrivateAttr(default=None)

    @field_validator("models")
    @classmethod
    def _named(cls, value: dict[str, ModelPolicy]) -> dict[str, ModelPolicy]:
        for name, model in value.items():
            model._name = name
            model.deployment = model.deployment or name
        return value

    @property
    def path(self) -> str | None:
        """The file the policy was read from (None: built in code)."""
        return None if self._source is None else self._source.name

    def model(self, name: str) -> ModelPolicy:
        """The policy of model ``name``; ``NotFoundError`` names the models the policy has."""
        if name in self.models:
            return self.models[name]
        close = _close(name, list(self.models))
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise NotFoundError(
            f"the policy{f' {self.path}' if self.path else ''} has no model {name!r}: {hint}"
            f"it has {', '.join(self.models)}."
        )

    def error(self, problem: str, loc: Loc) -> PolicyError:
        """A ``PolicyError`` at ``loc`` (a path of keys), with the file and line when the policy has them."""
        return _error(problem, loc, self._source)


# --- loading ------------------------------------------------------------------------------------------------


def policy_path(path: str | os.PathLike[str] | None = None) -> Path:
    """Which file is the policy: ``path``, else ``$LOOPML_POLICY``, else ``loopml.yaml`` here."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(POLICY_ENV) or POLICY_FILE)


def load_policy(
    path: str | os.PathLike[str] | None = None, *, check: bool = False, client: TrackingClient | None = None
) -> Policy:
    """Read and validate a policy file (see ``policy_path``). ``check=True`` also checks it against the
    Store and the code (``check_policy``). Every mistake found raises, together, as one ``PolicyError``."""
    file = policy_path(path)
    if not file.is_file():
        where = f"${POLICY_ENV} names {file}" if path is None and os.environ.get(POLICY_ENV) else str(file)
        raise PolicyError(
            f"no policy file: {where} does not exist. Write a {POLICY_FILE} (see `loopml policy check "
            f"--help`), pass its path, or set ${POLICY_ENV}.",
            path=str(file),
        )
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read the policy file: {exc}", path=str(file)) from None
    policy = parse_policy(text, name=str(file), folder=file.parent)
    if check:
        _raise(check_policy(policy, client), str(file))
    return policy


def parse_policy(
    text: str, *, name: str = POLICY_FILE, folder: str | os.PathLike[str] | None = None
) -> Policy:
    """A policy from YAML text; ``name`` is the file named in errors, ``folder`` the folder pipeline
    references start from (default: the working folder)."""
    import yaml

    try:
        source = YamlSource.parse(text, name)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, name) from None
    if source.root is None:
        raise PolicyError("the policy is empty: it needs `models:` with one entry per model.", path=name)
    if not isinstance(source.data, dict):
        raise _error(
            f"the policy is a mapping with the key `models:`, not a {type(source.data).__name__}", (), source
        )
    errors = [
        PolicyError(
            f"the key {key!r} appears twice, at lines {first.line} and {second.line}: keep one",
            path=name,
            line=second.line,
            column=second.column,
            loc=(*loc, key),
        )
        for loc, key, first, second in duplicate_keys(source.root)
    ]
    policy: Policy | None = None
    try:
        policy = Policy.model_validate(source.data, context={"folder": folder})
    except ValidationError as exc:
        errors += _from_pydantic(exc, source)
    errors.sort(key=lambda e: (e.line or 0, e.column or 0))
    _raise(errors, name)
    assert policy is not None
    policy._source = source
    return policy


def _raise(errors: list[PolicyError], name: str) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise PolicyError(f"{name} has {len(errors)} mistakes:", path=name, errors=errors)


def _yaml_error(exc: Any, name: str) -> PolicyError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = " ".join(p for p in (getattr(exc, "context", None), getattr(exc, "problem", None)) if p)
    return PolicyError(
        f"not valid YAML: {problem or exc}. Check the indentation and quoting there (quote text holding ': ' "
        "or starting with '*', '&', '@' or '{').",
        path=name,
        line=None if mark is None else mark.line + 1,
        column=None if mark is None else mark.column + 1,
    )


def _error(problem: str, loc: Loc, source: YamlSource | None) -> PolicyError:
    position = None if source is None else source.position_of(loc)
    return PolicyError(
        problem,
        path=None if source is None else source.name,
        line=None if position is None else position.line,
        column=None if position is None else position.column,
        loc=tuple(part for part in loc if part != KEY_MARK),
    )


def _from_pydantic(exc: ValidationError, source: YamlSource) -> list[PolicyError]:
    found = exc.errors(include_url=False)
    unknown = [(tuple(e["loc"][:-1]), str(e["loc"][-1])) for e in found if e["type"] == "extra_forbidden"]
    out: list[PolicyError] = []
    for e in found:
        loc: Loc = tuple(e["loc"])
        kind = e["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            keys = _keys_at(loc[:-1])
            close = _close(key, keys)
            hint = f"did you mean {close[0]!r}?" if close else f"the keys here are {', '.join(keys)}"
            out.append(_error(f"unknown key {key!r}: {hint}", (*loc, KEY_MARK), source))
        elif kind == "missing":
            key, parent = str(loc[-1]), loc[:-1]
            if any(p == parent and _close(k, [key]) for p, k in unknown):
                continue  # the typo'd key's "did you mean" says it already
            doc = _doc_at(loc)
            out.append(
                _error(f"the key {key!r} is missing{f' ({doc})' if doc else ''}: add it", parent, source)
            )
        elif kind == "policy":
            out.append(_error(str(e["msg"]), loc, source))
        else:
            doc = _doc_at(loc)
            msg = str(e["msg"])
            expected = _EXPECTED.get(kind.removesuffix("_type").removesuffix("_parsing"))
            said = f"expected {expected}" if expected else f"{msg[:1].lower()}{msg[1:]}"
            doc = f" ({doc})" if doc else ""
            out.append(_error(f"{said}, not {_shown(e.get('input'))}{doc}", loc, source))
    return out


# pydantic's error type (less ``_type`` / ``_parsing``) -> what was expected, in words
_EXPECTED = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "string": "text",
    "list": "a list",
    "dict": "a mapping (key: value lines)",
    "model": "a mapping (key: value lines)",
    "model_attributes": "a mapping (key: value lines)",
}


def _close(word: str, options: list[str] | tuple[str, ...]) -> list[str]:
    """The option a typo most likely meant (none when nothing is close: "colour" is not "rollout")."""
    return difflib.get_close_matches(word, options, n=1, cutoff=0.7)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- the models' shape, for messages ------------------------------------------------------------------------


def _unwrap(tp: Any) -> Any:
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _walk(loc: Loc) -> tuple[Any, Any]:
    """The type at ``loc`` and the field that holds it (None for list items and dict values)."""
    tp: Any = Policy
    field: Any = None
    for part in loc:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = next((f for n, f in tp.model_fields.items() if (f.alias or n) == part), None)
            if field is None:
                return None, None
            tp = field.annotation
        elif get_origin(tp) in (dict, list):
            tp, field = get_args(tp)[-1], None
        else:
            return None, None
    return _unwrap(tp), field


def _keys_at(loc: Loc) -> list[str]:
    tp, _ = _walk(loc)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [f.alias or n for n, f in tp.model_fields.items()]
    return []


def _doc_at(loc: Loc) -> str:
    _, field = _walk(loc)
    doc = (getattr(field, "description", None) or "").rstrip(".").replace("``", "'")
    return doc[:1].lower() + doc[1:]


# --- checking against the Store and the code ----------------------------------------------------------------


def check_policy(policy: Policy, client: TrackingClient | None = None) -> list[PolicyError]:
    """What the file alone cannot tell: every mistake against the Store (models, monitors, datasets) and
    the code (pipelines), each as a ``PolicyError`` at its line; an empty list when there is none."""
    from loopml.tracking import get_client

    client = client or get_client()
    errors: list[PolicyError] = []
    for name, model in policy.models.items():
        errors += _Checker(policy, model, client).run(("models", name))
    errors.sort(key=lambda e: (e.line or 0, e.column or 0))
    return errors


class _Checker:
    """The checks of one model's policy; each appends the errors it finds."""

    def __init__(self, policy: Policy, model: ModelPolicy, client: TrackingClient) -> None:
        self.policy = policy
        self.model = model
        self.client = client
        self.store = client.store
        self.errors: list[PolicyError] = []

    def fail(self, problem: str, loc: Loc) -> None:
        self.errors.append(self.policy.error(problem, loc))

    def run(self, at: Loc) -> list[PolicyError]:
        registered = self._registered(at)
        for i, trigger in enumerate(self.model.triggers):
            if trigger.alert is not None:
                self._monitor(trigger, (*at, "triggers", i, "alert"))
            elif trigger.dataset is not None:
                self._dataset(trigger.dataset, (*at, "triggers", i, "dataset"))
        data = self.model.retrain.data
        if data is not None and data.base is not None:
            self._dataset(data.base, (*at, "retrain", "data", "base"))
        self._pipeline((*at, "retrain"))
        for i, config in enumerate(self.model.notify):
            self._notifier(config, (*at, "notify", i))
        if registered and data is not None and data.feedback is not None:
            self._personal(data, (*at, "retrain", "data"))
        return self.errors

    def _registered(self, at: Loc) -> bool:
        name = self.model.name
        try:
            self.store.models.get_model(name)
            return True
        except NotFoundError:
            names = [m.name for m in self.store.models.list_models()]
            self.fail(
                f"no registered model {name!r}{_suggest(name, names, 'registered models')}: register it "
                "first (lm.register_model or a pipeline run), or fix the name",
                (*at, KEY_MARK),
            )
            return False

    def _monitor(self, trigger: Trigger, loc: Loc) -> None:
        assert trigger.alert is not None
        try:
            monitor = self.store.monitors.get(trigger.alert)
        except NotFoundError:
            names = [m.name for m in self.store.monitors.list()]
            self.fail(
                f"no monitor {trigger.alert!r}{_suggest(trigger.alert, names, 'monitors')}: add it with "
                "`loopml monitor add`, or fix the name",
                loc,
            )
            return
        if monitor.model != self.model.name:
            self.fail(
                f"the monitor {monitor.name!r} watches the model {monitor.model!r}, not {self.model.name!r}: "
                f"name a monitor of {self.model.name!r}",
                loc,
            )
        rules = [str(r) for r in monitor.config.get("rules") or ()]
        if trigger.rule is not None and trigger.rule not in rules:
            self.fail(
                f"the monitor {monitor.name!r} has no rule {trigger.rule!r}; its rules: "
                f"{', '.join(map(repr, rules)) or 'none'}",
                (*loc[:-1], "rule"),
            )

    def _dataset(self, ref: str, loc: Loc) -> None:
        from loopml.data import get as get_dataset

        try:
            get_dataset(ref, self.client)
        except NotFoundError as exc:
            name = ref.split("@")[0].split(":")[0]
            names = [d.name for d, _ in self.store.datasets.list_datasets()]
            hint = _suggest(name, names, "datasets") if name not in names else f" ({exc})"
            self.fail(f"no dataset {ref!r}{hint}: add it with `loopml data add`, or fix the name", loc)

    def _pipeline(self, at: Loc) -> None:
        retrain = self.model.retrain
        loc = (*at, "pipeline")
        try:
            pipeline = retrain.load_pipeline()
        except LoopmlError as exc:
            self.fail(f"the pipeline {retrain.pipeline!r} cannot be loaded: {exc}", loc)
            return
        except Exception as exc:  # the user's module failed while importing
            self.fail(f"importing the pipeline {retrain.pipeline!r} failed: {type(exc).__name__}: {exc}", loc)
            return
        parameters = pipeline.parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
            return
        listed = ", ".join(parameters) or "none"
        for key in retrain.params:
            if key not in parameters:
                self.fail(
                    f"the pipeline {pipeline.name!r} has no parameter {key!r}"
                    f"{_suggest(key, list(parameters), 'parameters')}; its parameters: {listed}",
                    (*at, "params", key),
                )
        given = set(retrain.params)
        if retrain.data is not None:
            given.add(retrain.data.param)
            if retrain.data.param not in parameters:
                self.fail(
                    f"the pipeline {pipeline.name!r} has no parameter {retrain.data.param!r} to receive the "
                    f"data; its parameters: {listed}. Set `param:` to the one that takes the data frame",
                    (*at, "data", "param") if "param" in retrain.data.model_fields_set else (*at, "data"),
                )
        needed = [
            n
            for n, p in parameters.items()
            if p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
            and n not in given
        ]
        if needed:
            self.fail(
                f"the pipeline {pipeline.name!r} needs a value for {', '.join(map(repr, needed))}: give it "
                "under `params:`, or as the data (`data: {param: ...}`)",
                loc,
            )

    def _notifier(self, config: dict[str, Any], loc: Loc) -> None:
        from loopml.monitoring import notifier_from_config

        try:
            notifier_from_config(config)
        except LoopmlError as exc:
            self.fail(f"this notifier cannot be built: {exc}", loc)

    def _personal(self, data: DataSelection, loc: Loc) -> None:
        signature = _champion_signature(self.client, self.model.name)
        if signature is None:
            return
        features = data.features if data.features is not None else signature.input_names
        personal = [c for c in signature.personal_columns if c in features and c not in data.exclude]
        if not personal:
            return
        cols = ", ".join(personal)
        self.fail(
            f"the feedback rows' features would include {cols}, personal data by the model's signature: the "
            "prediction log keeps it only hashed or drops it, so a model retrained on feedback would learn "
            f"from hashes or gaps, not from the column. Add `exclude: [{cols}]` under data"
            + (" (or drop it from `features:`)" if data.features is not None else ""),
            (*loc, "features") if data.features is not None else (*loc, "feedback"),
        )


def _suggest(name: str, names: list[str], what: str) -> str:
    close = _close(name, names)
    if close:
        return f" (did you mean {close[0]!r}?)"
    if not names:
        return f" (there are no {what})"
    shown = ", ".join(sorted(names)[:8]) + (", ..." if len(names) > 8 else "")
    return f" ({what}: {shown})"


def _champion_signature(client: TrackingClient, name: str) -> Any:
    """The signature of the model's champion (its newest version while it has none), read from the bundle's
    description without loading the model."""
    from loopml.models import META_FILE, ModelMeta

    models = client.store.models
    try:
        version = models.get_by_alias(name, "champion")
    except NotFoundError:
        version = models.get_latest(name)
    entries = client.artifacts.read_manifest(version.bundle_digest)
    meta = ModelMeta.from_json(client.artifacts.get_bytes(entries[META_FILE].digest))
    return meta.signature
