"""``lm.evaluate`` and ``lm.gate`` on registered versions: the evaluation or the decision is computed by
``_evaluate`` and ``_gate`` and recorded on the version, with the dataset version it was judged on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidArgumentError, NotFoundError
from loopml.registry._registry import _client, actor, get_model_version, load_model
from loopml.store import DatasetVersion, GateRecord, ModelVersion

if TYPE_CHECKING:
    from loopml.registry._evaluate import Evaluation
    from loopml.registry._gate import GateDecision
    from loopml.tracking import TrackingClient


def _is_ref(model: Any) -> bool:
    return isinstance(model, ModelVersion) or (isinstance(model, str) and not hasattr(model, "predict"))


def _data(data: Any, client: TrackingClient) -> tuple[Any, DatasetVersion | None]:
    """A DataFrame and the dataset version it is, when it is one."""
    from loopml.data import get as get_dataset
    from loopml.data import load

    if isinstance(data, str):
        data = get_dataset(data, client)
    if isinstance(data, DatasetVersion):
        return load(data, client=client), data
    if hasattr(data, "columns"):
        return data, None
    raise InvalidArgumentError(
        "data is a DataFrame, a DatasetVersion or a dataset reference such as 'sensors:3', "
        f"not a {type(data).__name__}."
    )


def evaluate(
    model: Any,
    data: Any,
    *,
    target: str,
    task: str | None = None,
    slices: Sequence[str] = (),
    client: TrackingClient | None = None,
    **options: Any,
) -> Evaluation:
    """Evaluate a model on labelled data: metrics overall and per slice, and prediction latency.

    ``model`` is a registered version (``"churn:3"``, ``"churn@champion"``, a ModelVersion) or any object
    with ``predict``. A registered version keeps the evaluation (and its overall metrics) with the dataset
    version it was computed on.
    """
    from loopml.registry._evaluate import evaluate as compute

    client = _client(client)
    frame, dataset = _data(data, client)
    version = get_model_version(model, client) if _is_ref(model) else None
    predictor = load_model(version, client) if version is not None else model
    result = compute(predictor, frame, target=target, task=task, slices=slices, **options)
    if version is not None:
        client.store.models.add_evaluation(
            version.id,
            result.to_json(),
            created_ms=client.now_ms(),
            dataset_version_id=None if dataset is None else dataset.id,
        )
    return result


@dataclass(frozen=True)
class GateOutcome:
    """A gate's decision about a registered candidate, as recorded, and whether an alias moved."""

    decision: GateDecision
    candidate: ModelVersion
    baseline: ModelVersion | None
    candidate_evaluation: Evaluation
    baseline_evaluation: Evaluation | None
    record: GateRecord
    promoted_to: str | None = None

    @property
    def passed(self) -> bool:
        return bool(self.decision.passed)


def gate(
    candidate: str | ModelVersion,
    baseline: str | ModelVersion | None,
    data: Any,
    rules: Sequence[Any],
    *,
    target: str,
    task: str | None = None,
    slices: Sequence[str] = (),
    promote: str | None = None,
    reason: str = "",
    client: TrackingClient | None = None,
) -> GateOutcome:
    """Decide whether ``candidate`` may replace ``baseline``: evaluate both on the same data, apply each rule
    (``f1 >= baseline - 0.01``, ``rmse <= baseline * 1.02``, floors, a latency budget, slice rules), record
    the decision with a reason per rule, and, when it passes and ``promote`` names an alias, move the alias.

    A baseline naming an alias that does not exist yet (the first model) gates against no baseline.
    """
    from loopml.registry._gate import decide, parse_rules
    from loopml.registry._registry import set_alias

    client = _client(client)
    parsed = parse_rules(list(rules))  # bad rules fail before any work
    slices = list(dict.fromkeys([*slices, *(r.column for r in parsed if r.column)]))
    cand = get_model_version(candidate, client)
    base: ModelVersion | None = None
    if baseline is not None:
        try:
            base = get_model_version(baseline, client)
        except NotFoundError:
            if not (isinstance(baseline, str) and "@" in baseline):
                raise
    frame, dataset = _data(data, client)
    cand_eval = evaluate(
        cand,
        dataset if dataset is not None else frame,
        target=target,
        task=task,
        slices=slices,
        client=client,
    )
    base_eval = None
    if base is not None and base.id != cand.id:
        base_eval = evaluate(
            base,
            dataset if dataset is not None else frame,
            target=target,
            task=task,
            slices=slices,
            client=client,
        )
    decision = decide(cand_eval, base_eval, parsed)
    record = client.store.models.record_gate(
        candidate_version_id=cand.id,
        baseline_version_id=None if base is None else base.id,
        passed=bool(decision.passed),
        decision=decision.to_json(),
        created_ms=client.now_ms(),
        created_by=actor(),
        reason=reason,
    )
    promoted = None
    if decision.passed and promote:
        why = reason or f"gate passed against {base.ref if base else 'no baseline'}"
        set_alias(cand.name, promote, cand.version, reason=why, client=client)
        promoted = promote
    return GateOutcome(decision, cand, base, cand_eval, base_eval, record, promoted)
