"""Retraining and gating a candidate, as a policy says.

The time cut is the heart of it: production's labelled rows are split at ``cut_ms`` (``split_by_time``), the
older ones (with the policy's base dataset) train the candidate, and the gate judges it only on rows logged
at or after the cut, read when the gate runs, so labels that arrived since count and no row is on both
sides. Both sides are stored as dataset versions with their lineage, and the cut goes into the audit events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidArgumentError

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


def _feedback_since(mp: Any, now_ms: int) -> int | None:
    feedback = mp.retrain.data.feedback
    return None if feedback is None or feedback.since_ms is None else now_ms - feedback.since_ms


def retrain(name: str, mp: Any, *, client: TrackingClient, now_ms: int) -> Retrained:
    """Run the policy's pipeline on fresh training data and register its model as the next version."""
    from loopml.agent._feedback import add_feedback, feedback_frame, split_by_time
    from loopml.data import get as get_dataset
    from loopml.pipelines import load_pipeline
    from loopml.registry import get_model_version, load_model, register_model

    retrain_policy = mp.retrain
    data_policy = retrain_policy.data
    since = _feedback_since(mp, now_ms)
    cut_ms = now_ms
    feedback_rows = 0
    training: DatasetVersion
    if data_policy.feedback is not None:
        labelled = feedback_frame(name, since_ms=since, until_ms=now_ms, target=mp.target, client=client)
        if len(labelled):
            train_rows, _gate_rows, cut_ms = split_by_time(
                labelled, holdout=mp.gate.holdout, min_rows=mp.gate.min_rows
            )
            feedback_rows = len(train_rows)
        if feedback_rows < data_policy.feedback.min_rows and data_policy.base is None:
            raise InvalidArgumentError(
                f"only {feedback_rows} labelled production rows of {name} to train on, fewer than the "
                f"policy's feedback.min_rows ({data_policy.feedback.min_rows}), and no base dataset."
            )
        fed = add_feedback(
            f"{name}-training",
            name,
            target=mp.target,
            deployment=mp.deployment or name,
            since_ms=since,
            until_ms=cut_ms,
            base=data_policy.base,
            exclude=list(data_policy.exclude),
            client=client,
        )
        training = fed.version
    elif data_policy.base is not None:
        training = get_dataset(data_policy.base, client)
    else:
        raise InvalidArgumentError(f"the retrain of {name} names no data: give retrain.data a base or feedback.")
    pipeline = load_pipeline(retrain_policy.pipeline)
    params = {**dict(retrain_policy.params), data_policy.param: training.ref}
    run = pipeline.run(params)
    step = retrain_policy.output or run.steps[-1].name
    produced = run.output(step)
    from loopml.store import ModelVersion

    if isinstance(produced, ModelVersion):
        candidate = produced
    else:
        signature = None
        try:
            signature = load_model(get_model_version(f"{name}@champion", client), client).signature
        except Exception:  # no champion yet (or it will not load): infer from the training rows
            signature = None
        example = None
        if signature is None:
            from loopml.data import load

            frame = load(training, client=client)
            example = frame.drop(columns=[c for c in (mp.target,) if c in frame]).head(5)
        candidate = register_model(
            name,
            produced,
            data=training,
            run=run.step(step).run_id,
            signature=signature,
            input_example=example,
            description=f"Retrained by the loop on {training.ref}.",
            reason=f"retrained by the loop on {training.ref}",
            client=client,
        )
    return Retrained(candidate, training.ref, int(training.num_rows), feedback_rows, cut_ms, run.id)


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
