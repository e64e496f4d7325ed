"""A monitor's reference: what its windows are compared with, built once when the monitor is added.

By default the reference is the dataset a model version's stored evaluation was computed on: held-out rows
the model never trained on, with the target. At ``add_monitor`` the version predicts them once (with class
probabilities when it has them), so prediction drift and CBPE have a reference too; three blobs are stored
and named in ``Monitor.reference``:

- ``data_digest``: the monitored columns of the reference rows (features and target), as Parquet;
- ``predictions_digest``: the version's predictions on them, in the log's column names (``output``,
  ``proba.<class>``), row for row;
- ``profile_digest``: the profile of both side by side, what windows' profiles are compared with.

Column names: features go by their own names (the log keeps them as ``input.<name>``), the prediction and
probabilities by their log names, the target by its name (the log's labels stand for it).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidArgumentError, NotFoundError
from loopml.monitoring._performance import Task
from loopml.monitoring._segments import INPUT_PREFIX, PROBA_PREFIX

if TYPE_CHECKING:
    import pandas as pd

    from loopml.artifacts import ArtifactStore
    from loopml.data import Profile
    from loopml.models import LoadedModel
    from loopml.store import DatasetVersion, ModelVersion, Store
    from loopml.tracking import TrackingClient

EXACT_LIMIT = 1000  # a column whose reference has at most this many values is tested on rows, not profiles


def log_name(column: str, features: Sequence[str]) -> str:
    """The prediction log's name of a monitored column (features are logged as ``input.<name>``)."""
    return f"{INPUT_PREFIX}{column}" if column in features else column


def to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.reset_index(drop=True).to_parquet(buffer, index=False, compression="zstd")
    return buffer.getvalue()


def from_parquet(data: bytes) -> pd.DataFrame:
    import pandas as pd

    return pd.read_parquet(io.BytesIO(data))


@dataclass(frozen=True)
class Source:
    """The reference rows as found: the frame, where they came from, and what the evaluation said."""

    frame: pd.DataFrame
    dataset: DatasetVersion | None = None
    evaluation_id: str | None = None
    evaluation: Mapping[str, Any] | None = None  # Evaluation.to_json() of the version on these rows


def find_source(client: TrackingClient, version: ModelVersion, reference: Any, model_ref: str) -> Source:
    """The reference ``add_monitor`` was given (a dataset reference, a DatasetVersion or a DataFrame), or by
    default the dataset of the version's newest stored evaluation on a dataset version."""
    from loopml.data import get as get_dataset
    from loopml.data import load
    from loopml.store import DatasetVersion

    evaluations = client.store.models.evaluations(version.id)
    on_data = [e for e in evaluations if e.dataset_version_id is not None]
    if reference is None:
        if not on_data:
            why = (
                "none of its stored evaluations was computed on a dataset version"
                if evaluations
                else "it has no stored evaluation"
            )
            raise InvalidArgumentError(
                f"{version.ref} has no reference for the monitor: {why}. Pass reference= held-out rows (a "
                "dataset such as 'sensors-holdout:1' or a DataFrame, with the target column), or evaluate "
                f"the version on a dataset version first: lm.evaluate({model_ref!r}, 'sensors-holdout:1', "
                "target='failure')."
            )
        chosen = max(on_data, key=lambda e: e.created_ms)
        assert chosen.dataset_version_id is not None
        dataset = client.store.datasets.get_by_id(chosen.dataset_version_id)
        return Source(load(dataset, client=client), dataset, chosen.id, chosen.evaluation)
    if hasattr(reference, "columns") and hasattr(reference, "iloc"):
        return Source(reference.reset_index(drop=True))
    if isinstance(reference, str):
        reference = get_dataset(reference, client)
    if isinstance(reference, DatasetVersion):
        mine = [e for e in on_data if e.dataset_version_id == reference.id]
        found = max(mine, key=lambda e: e.created_ms) if mine else None
        return Source(
            load(reference, client=client),
            reference,
            None if found is None else found.id,
            None if found is None else found.evaluation,
        )
    raise InvalidArgumentError(
        "reference= is a dataset reference such as 'sensors-holdout:1', a DatasetVersion or a DataFrame, "
        f"not a {type(reference).__name__}."
    )


def predict_reference(
    loaded: LoadedModel, frame: pd.DataFrame, task: Task | None, prediction: str
) -> tuple[pd.DataFrame, Task | None]:
    """The version's predictions on the reference rows, named as the log names them, and the task with
    the classes of the probabilities (from the model) filled in."""
    import numpy as np
    import pandas as pd

    from loopml.errors import SignatureError
    from loopml.registry import _evaluate

    try:
        raw = loaded.predict(frame)
    except (SignatureError, ValueError, TypeError) as exc:  # ValueError, TypeError: the model's own refusal
        raise InvalidArgumentError(
            f"the model cannot predict the reference rows ({exc}); pass a reference with the model's input "
            "columns (and features= those columns when the model has no signature)."
        ) from None
    values = _evaluate._as_1d(raw, len(frame), "predict")
    out = pd.DataFrame({prediction: values})
    if task is None or task.kind != "classification" or not loaded.has_proba:
        return out, task
    proba_raw = loaded.predict_proba(frame)
    classes = _evaluate._proba_classes(loaded.raw, proba_raw, np.asarray([]), np.asarray(values))
    proba = np.asarray(proba_raw, dtype=float)
    for i, c in enumerate(classes):
        out[f"{PROBA_PREFIX}{c}"] = proba[:, i]
    return out, Task(task.kind, prediction, tuple(classes), task.positive)


@dataclass
class Reference:
    """A monitor's reference as a check reads it: its profile at once, its rows only when a column needs
    them (at most ``EXACT_LIMIT`` values, or text)."""

    artifacts: ArtifactStore
    features: list[str]
    prediction: str
    target: str | None
    task: Task | None
    profile: Profile
    data_digest: str
    predictions_digest: str | None
    model_version: int
    metrics: dict[str, float] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    _frame: pd.DataFrame | None = field(default=None, repr=False)

    @classmethod
    def load(cls, artifacts: ArtifactStore, config: Mapping[str, Any], doc: Mapping[str, Any]) -> Reference:
        from loopml.data import Profile

        task = doc.get("task")
        return cls(
            artifacts=artifacts,
            features=list(config["features"]),
            prediction=str(config.get("prediction") or "output"),
            target=config.get("target"),
            task=None if not task else Task.from_json(task),
            profile=Profile.from_bytes(artifacts.get_bytes(doc["profile_digest"])),
            data_digest=str(doc["data_digest"]),
            predictions_digest=doc.get("predictions_digest"),
            model_version=int(doc.get("model_version") or 0),
            metrics={str(k): float(v) for k, v in (doc.get("metrics") or {}).items()},
            checks=list(doc.get("checks") or ()),
        )

    def count(self, column: str) -> int | None:
        """The reference's non-null values of ``column``; None when it does not have the column."""
        try:
            return int(self.profile[column].count)
        except KeyError:
            return None

    def frame(self) -> pd.DataFrame:
        """Every reference row: features and target, then the version's predictions beside them."""
        if self._frame is None:
            frame = from_parquet(self.artifacts.get_bytes(self.data_digest))
            if self.predictions_digest is not None:
                predictions = from_parquet(self.artifacts.get_bytes(self.predictions_digest))
                for column in predictions.columns:
                    frame[column] = predictions[column].to_numpy()
            self._frame = frame
        return self._frame

    def column(self, name: str) -> pd.Series[Any]:
        return self.frame()[name]


def version_metrics(
    store: Store, model: str, version: int, cache: dict[int, dict[str, float]]
) -> dict[str, float]:
    """The overall metrics of a version's newest stored evaluation ({} when it has none)."""
    if version not in cache:
        try:
            mv = store.models.get_version(model, version)
        except NotFoundError:
            cache[version] = {}
            return cache[version]
        found = store.models.evaluations(mv.id)
        newest = max(found, key=lambda e: e.created_ms) if found else None
        cache[version] = (
            {}
            if newest is None
            else {str(k): float(v) for k, v in newest.evaluation.get("metrics", {}).items()}
        )
    return cache[version]


__all__ = [
    "EXACT_LIMIT",
    "INPUT_PREFIX",
    "Reference",
    "Source",
    "find_source",
    "from_parquet",
    "log_name",
    "predict_reference",
    "to_parquet",
    "version_metrics",
]
