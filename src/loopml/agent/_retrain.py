"""Retraining and gating a candidate, as a policy says.

The time cut is the heart of it: production's labelled rows are split at ``cut_ms`` (``split_by_time``), the
older ones (with the policy's base dataset) train the candidate, and the gate judges it only on rows logged
at or after the cut, read when the gate runs, so labels that arrived since count and no row is on both
sides. Both sides are stored as dataset versions with their lineage, and the cut goes into the audit events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidArgumentError, LoopmlError

if TYPE_CHECKING:
    from loopml.store import DatasetVersion, ModelVersion
    from loopml.tracking import TrackingClient


@dataclass(frozen=True)
class Retrained:
    candidate: ModelVersion
    training_ref: str
    training_rows: int
    feedback_rows: int
    cut_ms: int
    run_id: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate.version,
            "training": self.training_ref,
            "training_rows": self.training_rows,
            "feedback_rows": self.feedback_rows,
            "cut_ms": self.cut_ms,
            "run_id": self.run_id,
        }


@dataclass(frozen=True)
class Gated:
    """The gate's outcome, or ``waiting`` (why it cannot decide yet)."""

    passed: bool = False
    summary: str = ""
    waiting: str | None = None
    details: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.details or {})


def _features(mp: Any, client: TrackingClient) -> list[str] | None:
    """The feature columns the policy asks for: ``features``, else the champion's inputs without
    ``exclude`` (None when there is no champion: the feedback's default, every logged input that is not
    personal)."""
    data = mp.retrain.data
    if data is None:
        return None
    if data.features is not None:
        return list(data.features)
    from loopml.registry import get_model_version, load_model

    try:
        signature = load_model(get_model_version(f"{mp.name}@champion", client), client).signature
    except LoopmlError:
        return None
    if signature is None:
        return None
    left_out = set(data.exclude) | set(signature.personal_columns)
    return [c for c in signature.input_names if c not in left_out]


def retrain(name: str, mp: Any, *, client: TrackingClient, now_ms: int) -> Retrained:
    """Run the policy's pipeline on fresh training data and register its model as the next version."""
    from loopml.agent._feedback import NotEnoughFeedbackError, add_feedback
    from loopml.data import checks
    from loopml.data import get as get_dataset
    from loopml.registry import get_model_version, load_model, register_model
    from loopml.store import ModelVersion

    retrain_policy = mp.retrain
    data_policy = retrain_policy.data
    cut_ms = now_ms
    feedback_rows = 0
    training: DatasetVersion | None = None
    if data_policy is not None and data_policy.feedback is not None:
        fb = data_policy.feedback
        common: dict[str, Any] = {
            "target": mp.target,
            "deployment": mp.deployment or name,
            "since_ms": None if fb.since_ms is None else now_ms - fb.since_ms,
            "until_ms": now_ms,
            "base": data_policy.base,
            "features": _features(mp, client),
            "checks": [checks.not_null(mp.target)],
            "client": client,
        }
        try:  # the newest labelled rows stay out of training, for the gate
            fed = add_feedback(
                f"{name}-training", name, holdout=mp.gate.holdout, min_rows=mp.gate.min_rows, **common
            )
            assert fed.cut_ms is not None
            cut_ms = fed.cut_ms
        except NotEnoughFeedbackError:  # too few labels to hold some back: train on all, gate on what comes
            try:
                fed = add_feedback(f"{name}-training", name, min_rows=0, **common)
            except NotEnoughFeedbackError:  # no labelled production rows at all
                fed = None
        feedback_rows = 0 if fed is None else fed.rows
        if feedback_rows < fb.min_rows or (fed is None and data_policy.base is None):
            raise InvalidArgumentError(
                f"only {feedback_rows} labelled production rows of {name} to train on, fewer than the "
                f"policy's retrain.data.feedback.min_rows ({fb.min_rows}) or none without a base dataset; "
                "wait for labels or lower it."
            )
        training = fed.version if fed is not None else get_dataset(data_policy.base, client)
    elif data_policy is not None and data_policy.base is not None:
        training = get_dataset(data_policy.base, client)
    pipeline = retrain_policy.load_pipeline()
    params = dict(retrain_policy.params)
    if training is not None and data_policy is not None:
        params[data_policy.param] = training.ref
    run = pipeline.run(params)
    step = retrain_policy.output or run.steps[-1].name
    produced = run.output(step)
    if isinstance(produced, ModelVersion):
        candidate = produced
    else:
        signature = None
        try:
            signature = load_model(get_model_version(f"{name}@champion", client), client).signature
        except LoopmlError:  # no champion yet: the signature comes from the training rows
            signature = None
        example = None
        if signature is None and training is not None:
            from loopml.data import load

            frame = load(training, client=client)
            example = frame.drop(columns=[c for c in (mp.target,) if c in frame]).head(5)
        where = f" on {training.ref}" if training is not None else ""
        candidate = register_model(
            name,
            produced,
            data=training,
            run=run.step(step).run_id,
            signature=signature,
            input_example=example,
            description=f"Retrained by the loop{where}.",
            reason=f"retrained by the loop{where}",
            client=client,
        )
    return Retrained(
        candidate,
        "" if training is None else training.ref,
        0 if training is None else int(training.num_rows),
        feedback_rows,
        cut_ms,
        run.id,
    )


def gate_candidate(
    name: str, mp: Any, candidate: int, *, cut_ms: int, client: TrackingClient, now_ms: int
) -> Gated:
    """Judge ``name:candidate`` against the champion on labelled rows logged at or after ``cut_ms``."""
    from loopml.agent._feedback import add_feedback, feedback_frame
    from loopml.registry import gate

    fresh = feedback_frame(name, since_ms=cut_ms, until_ms=now_ms, target=mp.target, client=client)
    if len(fresh) < mp.gate.min_rows:
        return Gated(
            waiting=(
                f"the gate needs {mp.gate.min_rows} labelled rows newer than the candidate's training data; "
                f"{len(fresh)} so far"
            )
        )
    version = add_feedback(
        f"{name}-gate",
        name,
        target=mp.target,
        deployment=mp.deployment or name,
        since_ms=cut_ms,
        until_ms=now_ms,
        features=_features(mp, client),
        client=client,
    ).version
    outcome = gate(
        f"{name}:{candidate}",
        f"{name}@champion",
        version,
        list(mp.gate.rules),
        target=mp.target,
        reason=f"loop gate on {version.ref}, rows logged after the training cut",
        client=client,
    )
    failed = [r for r in outcome.decision.results if not r.passed]
    summary = (
        "; ".join(f"{r.rule}: {r.reason}" for r in failed)
        if failed
        else f"{len(outcome.decision.results)} of {len(outcome.decision.results)} rules passed"
    )
    details = {
        "candidate": candidate,
        "baseline": None if outcome.baseline is None else outcome.baseline.version,
        "gate_data": version.ref,
        "gate_rows": int(version.num_rows),
        "cut_ms": cut_ms,
        "decision": outcome.decision.to_json(),
        "gate_record": outcome.record.id,
    }
    return Gated(passed=outcome.passed, summary=summary, details=details)
