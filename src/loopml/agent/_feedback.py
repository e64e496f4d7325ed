"""Feedback becomes data: logged predictions joined with their labels, stored as dataset versions.

The prediction log holds what a model answered (``loopml.monitoring``); ground truth arrives later, by request
id (``log_labels``). ``feedback_frame`` reads a window of the log segment by segment, only the columns it
needs, keeps the answered rows whose request has a label, and returns them with their label:

    frame = feedback_frame("failure-predictor", since_ms=t0, target="failure")
    # request_id, timestamp_ms, model_version, route, <the inputs as logged>, prediction, failure

Error rows (failed requests) and the shadow's answers (a copy of a request the client never saw) are left
out; a label belongs to a request, so every row of a batch request gets it. Memory holds the labelled rows of
the window, never a whole segment's other columns.

``add_feedback`` stores such rows as the next version of a dataset, through ``lm.data``'s checks (a failing
check stores nothing), optionally appended to a base version's rows (the original training data, say) with
the columns aligned: the base's features plus the target. Its lineage is a run of the experiment
``loopml-feedback`` that records the model, the deployment, the versions that served the rows, the time range
and the row counts, with the new dataset version as its output (and the base as its input); the version's
tags and description name them too.

Personal columns: a model's signature marks some inputs personal, and the log keeps them only hashed or not
at all. ``feedback_frame`` returns them as logged; ``add_feedback`` leaves them out of the stored features
(of the base's rows too) and refuses ``features=`` that names one, so a retrained model never learns from
them.

The time split: a candidate must never be judged on rows it trained on. ``split_by_time`` keeps the newest
share of the rows for the gate, every one of them strictly newer than every training row (rows timed at the
cut all go to the gate), and returns the cut, which the caller records in its audit event:

    train, gate, cut_ms = split_by_time(frame, holdout=0.3, min_rows=200)
    # train.timestamp_ms.max() < cut_ms <= gate.timestamp_ms.min()

``add_feedback(..., holdout=0.3, min_rows=200)`` does the same in one read of the log: it stores the rows
before the cut and hands back the gate's rows (not stored) and the cut.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidArgumentError, NotFoundError
from loopml.monitoring._segments import ANSWERED, INPUT_PREFIX, OUTPUT
from loopml.store import DatasetVersion, RunStatus
from loopml.tracking import TrackingClient, active_run, attached_run, get_client

if TYPE_CHECKING:
    import pandas as pd

    from loopml.data.checks import Check
    from loopml.store import PredictionSegment

EXPERIMENT = "loopml-feedback"  # the experiment of the runs that record where feedback versions came from
META_COLUMNS = ("request_id", "timestamp_ms", "model_version", "route")
PREDICTION = "prediction"
SHADOW = "shadow"  # the route whose answers were never returned: not feedback unless asked for
_READ = (*META_COLUMNS, "status")


class NotEnoughFeedbackError(InvalidArgumentError):
    """Fewer labelled rows than asked for: wait for more labels, or ask for fewer. ``rows`` is how many there
    are, ``needed`` how many it takes."""

    def __init__(self, message: str, rows: int, needed: int) -> None:
        super().__init__(message)
        self.rows = rows
        self.needed = needed


@dataclass(frozen=True)
class FeedbackVersion:
    """A dataset version made of feedback, and where it came from.

    ``rows`` counts the feedback rows stored, ``base_rows`` those of the base version; ``first_ms`` and
    ``last_ms`` are the oldest and newest prediction times among the stored feedback rows (None when none is
    stored); ``served_versions`` the model versions that answered them. With a split, ``cut_ms`` is the cut
    (every stored row is older), and ``gate`` the rows from the cut on, kept back for the gate, not stored."""

    version: DatasetVersion
    run_id: str
    model: str
    deployment: str | None
    target: str
    features: tuple[str, ...]
    rows: int
    base_rows: int
    since_ms: int | None
    until_ms: int | None
    first_ms: int | None
    last_ms: int | None
    served_versions: tuple[int, ...]
    left_out: tuple[str, ...] = ()  # the personal columns of the serving versions, kept out of the features
    base: str | None = None  # the base version's reference
    cut_ms: int | None = None
    gate_rows: int = 0
    deployment_revision: int | None = None  # the deployment's revision when the version was made
    gate: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def ref(self) -> str:
        return self.version.ref

    def to_dict(self) -> dict[str, Any]:
        """The figures as JSON, for an audit event (without the gate's rows)."""
        return {
            "dataset": self.version.ref,
            "dataset_version_id": self.version.id,
            "run_id": self.run_id,
            "model": self.model,
            "deployment": self.deployment,
            "deployment_revision": self.deployment_revision,
            "target": self.target,
            "features": list(self.features),
            "rows": self.rows,
            "base": self.base,
            "base_rows": self.base_rows,
            "since_ms": self.since_ms,
            "until_ms": self.until_ms,
            "first_ms": self.first_ms,
            "last_ms": self.last_ms,
            "served_versions": list(self.served_versions),
            "left_out": list(self.left_out),
            "cut_ms": self.cut_ms,
            "gate_rows": self.gate_rows,
        }


# -- reading


def feedback_frame(
    model: str,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    versions: Iterable[int] | None = None,
    client: TrackingClient | None = None,
    target: str = "label",
    inputs: Sequence[str] | None = None,
    routes: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The answered predictions of ``model`` timed in [since_ms, until_ms) whose request has a label, oldest
    first: ``request_id``, ``timestamp_ms``, ``model_version``, ``route``, the inputs as logged (named as the
    model's columns; personal ones hashed or absent, as the log keeps them), the output as ``prediction``
    (``prediction.<name>`` for several outputs) and the label as ``target``.

    ``versions``: only the rows these model versions answered. ``inputs``: read only these input columns
    (default: every logged one). ``routes``: only these routes (default: every route but the shadow's, whose
    answers no client saw)."""
    import pandas as pd

    client = client or get_client()
    wanted = None if versions is None else frozenset(int(v) for v in versions)
    route_set = None if routes is None else frozenset(str(r) for r in routes)
    chosen = None if inputs is None else frozenset(str(c) for c in inputs)
    if target in META_COLUMNS or target == PREDICTION or target.startswith(PREDICTION + "."):
        raise InvalidArgumentError(
            f"target={target!r} is a column feedback rows already have; name the label column otherwise."
        )
    parts = []
    for segment in client.store.predictions.segments(model, since_ms, until_ms):
        if segment.error_rows == segment.num_rows:
            continue
        if wanted is not None and not wanted.intersection(segment.versions):
            continue
        if not (set(segment.routes) & route_set if route_set is not None else set(segment.routes) - {SHADOW}):
            continue
        part = _labelled_rows(client, segment, since_ms, until_ms, wanted, route_set, chosen, target)
        if part is not None:
            parts.append(part)
    if not parts:
        return _empty(target)
    frame = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    columns = list(frame.columns)
    rest = [c for c in columns if c not in META_COLUMNS and c != target]
    predictions = [c for c in rest if c == PREDICTION or c.startswith(PREDICTION + ".")]
    features = [c for c in rest if c not in predictions]
    frame = frame[[*META_COLUMNS, *features, *predictions, target]]
    ordered: pd.DataFrame = frame.sort_values("timestamp_ms", kind="stable", ignore_index=True)
    return ordered


def _labelled_rows(
    client: TrackingClient,
    segment: PredictionSegment,
    since_ms: int | None,
    until_ms: int | None,
    versions: frozenset[int] | None,
    routes: frozenset[str] | None,
    inputs: frozenset[str] | None,
    target: str,
) -> pd.DataFrame | None:
    """The rows of one segment in the window that were answered and whose request has a label, as a frame
    with the label in ``target``; None when there are none."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    file = pq.ParquetFile(pa.BufferReader(client.artifacts.get_bytes(segment.digest)))
    names = file.schema_arrow.names
    read = [c for c in names if c in _READ or _is_output(c) or _is_wanted_input(c, inputs)]
    table = file.read(columns=read)
    conditions = [
        None if since_ms is None else pc.greater_equal(table["timestamp_ms"], since_ms),
        None if until_ms is None else pc.less(table["timestamp_ms"], until_ms),
        None if "status" not in names else pc.equal(table["status"], ANSWERED),
        None
        if versions is None
        else pc.is_in(table["model_version"], value_set=pa.array(sorted(versions), pa.int64())),
        pc.invert(pc.equal(table["route"], SHADOW))
        if routes is None
        else pc.is_in(table["route"], value_set=pa.array(sorted(routes), pa.string())),
    ]
    mask = None
    for condition in conditions:
        if condition is not None:
            mask = condition if mask is None else pc.and_(mask, condition)
    if mask is not None:
        table = table.filter(mask)
    if not table.num_rows:
        return None
    ids = pc.unique(table["request_id"]).to_pylist()
    labels = {lb.request_id: lb.label for lb in client.store.predictions.labels(segment.model, ids)}
    if not labels:
        return None
    table = table.filter(pc.is_in(table["request_id"], value_set=pa.array(list(labels), pa.string())))
    table = table.drop_columns([c for c in ("status",) if c in table.column_names])
    frame: pd.DataFrame = table.to_pandas()
    frame.columns = [_renamed(c, target) for c in frame.columns]
    frame[target] = pd.Series([labels[r] for r in frame["request_id"]], index=frame.index)
    return frame


def _is_output(column: str) -> bool:
    return column == OUTPUT or column.startswith(OUTPUT + ".")


def _is_wanted_input(column: str, inputs: frozenset[str] | None) -> bool:
    return column.startswith(INPUT_PREFIX) and (inputs is None or column[len(INPUT_PREFIX) :] in inputs)


def _renamed(column: str, target: str) -> str:
    if column.startswith(INPUT_PREFIX):
        name = column[len(INPUT_PREFIX) :]
        if name in (*META_COLUMNS, target, PREDICTION):
            raise InvalidArgumentError(
                f"the model has an input named {name!r}, which feedback rows use for another column; "
                + (
                    "pass another target= for the label."
                    if name == target
                    else "read the log with loopml.monitoring.read_predictions instead."
                )
            )
        return name
    if _is_output(column):
        return PREDICTION + column[len(OUTPUT) :]
    return column


def _empty(target: str) -> pd.DataFrame:
    import pandas as pd

    dtypes = {"request_id": "object", "timestamp_ms": "int64", "model_version": "int64", "route": "object"}
    return pd.DataFrame(
        {
            **{c: pd.Series(dtype=dtypes[c]) for c in META_COLUMNS},
            PREDICTION: pd.Series(dtype="object"),
            target: pd.Series(dtype="object"),
        }
    )


# -- personal columns


def personal_columns(
    model: str, versions: Iterable[int], client: TrackingClient | None = None
) -> dict[str, tuple[int, ...]]:
    """The input columns the signatures of ``model``'s ``versions`` mark personal, each with the versions that
    mark it. Only each bundle's description is read, never the model itself."""
    from loopml.models import META_FILE, ModelMeta

    client = client or get_client()
    found: dict[str, list[int]] = {}
    for number in sorted(set(versions)):
        try:
            version = client.store.models.get_version(model, number)
        except NotFoundError:
            raise NotFoundError(
                f"version {number} of {model!r} answered logged predictions but is not in the registry, "
                "and its signature says which inputs are personal: register it, or pass versions= without it."
            ) from None
        entry = client.artifacts.read_manifest(version.bundle_digest).get(META_FILE)
        if entry is None:
            continue
        signature = ModelMeta.from_json(client.artifacts.get_bytes(entry.digest)).signature
        for name in [] if signature is None else signature.personal_columns:
            found.setdefault(name, []).append(number)
    return {name: tuple(numbers) for name, numbers in found.items()}


def _served_versions(
    client: TrackingClient, model: str, since_ms: int | None, until_ms: int | None
) -> set[int]:
    """The versions the segment index says answered in the window (a superset: it is per segment)."""
    return {
        v
        for s in client.store.predictions.segments(model, since_ms, until_ms)
        if s.error_rows < s.num_rows and set(s.routes) - {SHADOW}
        for v in s.versions
    }


# -- the time split


def split_by_time(
    frame: pd.DataFrame, *, holdout: float, min_rows: int
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """``frame`` cut in two by ``timestamp_ms``: (train, gate, cut_ms). The gate holds the newest ``holdout``
    share of the rows (at least that many), every one timed at or after ``cut_ms``, every training row
    strictly before it: a tie at the cut goes to the gate, never to both sides. Fewer than ``min_rows`` gate
    rows raises ``NotEnoughFeedbackError``. Both parts keep the frame's columns, oldest first."""
    if "timestamp_ms" not in frame.columns:
        raise InvalidArgumentError(
            "split_by_time needs a timestamp_ms column (the prediction time of each row), as feedback_frame "
            "returns it."
        )
    if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 < holdout < 1:
        raise InvalidArgumentError(
            f"holdout is the share of the newest rows kept for the gate, between 0 and 1 (0.3, say), "
            f"not {holdout!r}."
        )
    if isinstance(min_rows, bool) or not isinstance(min_rows, int) or min_rows < 0:
        raise InvalidArgumentError(f"min_rows is a number of rows (0 or more), not {min_rows!r}.")
    if frame["timestamp_ms"].isna().any():
        raise InvalidArgumentError("some rows have no timestamp_ms; a row without a time cannot be split.")
    ordered = frame.sort_values("timestamp_ms", kind="stable", ignore_index=True)
    n = len(ordered)
    needed = max(min_rows, 1)
    if n == 0:
        raise NotEnoughFeedbackError(
            f"there are no labelled rows to split; the gate needs {needed}. Wait for labels.", 0, needed
        )
    share = min(n, math.ceil(holdout * n))
    cut_ms = int(ordered["timestamp_ms"].iloc[n - share])
    later = ordered["timestamp_ms"] >= cut_ms
    train, gate = ordered[~later].reset_index(drop=True), ordered[later].reset_index(drop=True)
    if len(gate) < needed:
        raise NotEnoughFeedbackError(
            f"the newest {holdout:g} of {n} labelled rows is {len(gate)} row(s), and the gate needs "
            f"{needed}: wait for more labels, or lower min_rows.",
            len(gate),
            needed,
        )
    return train, gate, cut_ms


# -- storing


def add_feedback(
    dataset: str,
    model: str,
    *,
    target: str,
    deployment: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    base: str | DatasetVersion | None = None,
    checks: Sequence[Check] | None = None,
    features: Sequence[str] | None = None,
    versions: Iterable[int] | None = None,
    holdout: float | None = None,
    min_rows: int = 1,
    client: TrackingClient | None = None,
) -> FeedbackVersion:
    """Store the labelled predictions of ``model`` timed in [since_ms, until_ms) as the next version of
    ``dataset``: the features and the label as ``target``, appended to the rows of ``base`` when given.

    Columns: ``features`` when given; else the base's columns but the target; else every logged input.
    Personal columns (marked in the signatures of the versions that served) are left out, of the base's rows
    too; ``features`` naming one is refused. ``checks`` run on the whole new version, and a failing one
    stores nothing (``DataCheckError``). ``deployment`` names the deployment that served the rows (it must
    serve ``model``); it is recorded with the rest. ``versions``: only the rows these model versions answered.

    ``holdout``: keep the newest share of the feedback rows back for the gate (``split_by_time``): the
    version holds only the rows before the cut, and the result carries the gate's rows and the cut. Fewer
    than ``min_rows`` feedback rows (gate rows with ``holdout``) raises ``NotEnoughFeedbackError``.
    """
    from loopml.data import check_name
    from loopml.data import get as get_dataset

    check_name(dataset)
    client = client or get_client()
    check_list = list(checks or ())
    revision = None if deployment is None else _deployment_revision(client, deployment, model)
    base_version = None
    if base is not None:
        base_version = base if isinstance(base, DatasetVersion) else get_dataset(base, client)
    wanted = None if versions is None else frozenset(int(v) for v in versions)
    served = _served_versions(client, model, since_ms, until_ms)
    if wanted is not None:
        served &= wanted
    personal = personal_columns(model, served, client)
    chosen = _features(features, base_version, target, personal, model)

    frame = feedback_frame(
        model,
        since_ms=since_ms,
        until_ms=until_ms,
        versions=wanted,
        client=client,
        target=target,
        inputs=chosen,
    )
    gate = cut_ms = None
    if holdout is not None:
        frame, gate, cut_ms = split_by_time(frame, holdout=holdout, min_rows=min_rows)
        if frame.empty and base_version is None:
            raise NotEnoughFeedbackError(
                f"every labelled prediction of {model!r} in the window is at or after the cut "
                f"({_iso(cut_ms)}), so none is left to train on: wait for more labels, or give a base.",
                0,
                1,
            )
    elif len(frame) < max(min_rows, 1):
        raise NotEnoughFeedbackError(
            f"{model!r} has {len(frame)} labelled prediction(s) in the window and {max(min_rows, 1)} are "
            "needed: log labels (loopml.monitoring.log_labels) or widen the window.",
            len(frame),
            max(min_rows, 1),
        )
    logged = [c for c in frame.columns if c not in META_COLUMNS and c != target and not _is_prediction(c)]
    if chosen is None:
        chosen = [c for c in logged if c not in personal]
    else:
        absent = [c for c in chosen if c not in frame.columns]
        if absent:
            raise InvalidArgumentError(
                f"the prediction log of {model!r} has no input {', '.join(map(repr, absent))} in its "
                f"labelled rows (it has {', '.join(map(repr, logged)) or 'none'}); pass features= without "
                f"{'it' if len(absent) == 1 else 'them'}."
            )
    left_out = tuple(sorted(personal))
    columns = [*chosen, target]
    feedback = frame[columns]
    if gate is not None:
        gate = gate[columns]
    rows = _Rows(
        first_ms=None if frame.empty else int(frame["timestamp_ms"].min()),
        last_ms=None if frame.empty else int(frame["timestamp_ms"].max()),
        served=tuple(sorted(int(v) for v in frame["model_version"].unique())),
    )
    version, run_id, base_rows = _store(
        client,
        dataset,
        feedback,
        columns,
        base_version,
        check_list,
        _Lineage(
            model,
            deployment,
            revision,
            target,
            since_ms,
            until_ms,
            rows,
            len(feedback),
            cut_ms,
            0 if gate is None else len(gate),
        ),
    )
    return FeedbackVersion(
        version=version,
        run_id=run_id,
        model=model,
        deployment=deployment,
        target=target,
        features=tuple(chosen),
        rows=len(feedback),
        base_rows=base_rows,
        since_ms=since_ms,
        until_ms=until_ms,
        first_ms=rows.first_ms,
        last_ms=rows.last_ms,
        served_versions=rows.served,
        left_out=left_out,
        base=None if base_version is None else base_version.ref,
        cut_ms=cut_ms,
        gate_rows=0 if gate is None else len(gate),
        deployment_revision=revision,
        gate=gate,
    )


def _is_prediction(column: str) -> bool:
    return column == PREDICTION or column.startswith(PREDICTION + ".")


def _deployment_revision(client: TrackingClient, name: str, model: str) -> int:
    """The current revision of deployment ``name``, which must serve ``model``."""
    found = client.store.deployments.get(name)
    if found.model != model:
        raise InvalidArgumentError(
            f"deployment {name!r} serves {found.model!r}, not {model!r}; name the deployment of {model!r}."
        )
    return found.revision


def _features(
    features: Sequence[str] | None,
    base: DatasetVersion | None,
    target: str,
    personal: dict[str, tuple[int, ...]],
    model: str,
) -> list[str] | None:
    """The feature columns asked for (checked), the base's, or None for every logged input."""
    base_columns = [str(c["name"]) for c in base.schema.get("columns", [])] if base is not None else None
    if base is not None and base_columns is not None and target not in base_columns:
        raise InvalidArgumentError(
            f"the base {base.ref} has no column {target!r} (the target); its columns are "
            f"{', '.join(map(repr, base_columns))}. Pass the target the base holds the label in."
        )
    if features is None:
        if base_columns is None:
            return None
        return [c for c in base_columns if c != target and c not in personal]
    if isinstance(features, str):
        features = [features]
    chosen = list(dict.fromkeys(str(c) for c in features))
    if not chosen:
        raise InvalidArgumentError("features= is empty; name the input columns to keep, or leave it out.")
    if target in chosen:
        raise InvalidArgumentError(f"the target {target!r} cannot be a feature as well; leave it out.")
    refused = [c for c in chosen if c in personal]
    if refused:
        which = "; ".join(
            f"{c} (personal in version{'s' if len(personal[c]) > 1 else ''} "
            f"{', '.join(map(str, personal[c]))})"
            for c in refused
        )
        raise InvalidArgumentError(
            f"features= names personal data of {model!r}: {which}. The prediction log keeps it only hashed "
            "or not at all, so a model retrained on it would learn from hashes or holes: leave it out of the "
            "features."
        )
    if base_columns is not None:
        missing = [c for c in chosen if c not in base_columns]
        if missing:
            raise InvalidArgumentError(
                f"the base {base.ref if base else ''} has no column {', '.join(map(repr, missing))}; its "
                f"columns are {', '.join(map(repr, base_columns))}."
            )
    return chosen


@dataclass(frozen=True)
class _Rows:
    first_ms: int | None
    last_ms: int | None
    served: tuple[int, ...]


@dataclass(frozen=True)
class _Lineage:
    model: str
    deployment: str | None
    deployment_revision: int | None
    target: str
    since_ms: int | None
    until_ms: int | None
    rows: _Rows
    feedback_rows: int
    cut_ms: int | None
    gate_rows: int

    def params(self, base: DatasetVersion | None) -> dict[str, Any]:
        return {
            "model": self.model,
            "deployment": self.deployment or "",
            "deployment_revision": "" if self.deployment_revision is None else self.deployment_revision,
            "target": self.target,
            "since_ms": "" if self.since_ms is None else self.since_ms,
            "until_ms": "" if self.until_ms is None else self.until_ms,
            "served_versions": ",".join(map(str, self.rows.served)),
            "base": "" if base is None else base.ref,
            "cut_ms": "" if self.cut_ms is None else self.cut_ms,
        }

    def tags(self) -> list[str]:
        """The version's tags: ``feedback``, the deployment's and each serving version's (they move to the
        newest feedback version of each, as tags do)."""
        names = ["feedback", *([f"deployment.{self.deployment}"] if self.deployment else [])]
        names += [f"{self.model}.v{v}" for v in self.rows.served]
        return [n for n in names if len(n) <= 128]

    def description(self, base: DatasetVersion | None) -> str:
        served = ", ".join(map(str, self.rows.served)) or "none"
        text = (
            f"feedback of {self.model}"
            + (f" (deployment {self.deployment})" if self.deployment else "")
            + f": {self.feedback_rows} labelled prediction(s) of version(s) {served}"
        )
        if self.rows.first_ms is not None and self.rows.last_ms is not None:
            text += f", timed {_iso(self.rows.first_ms)} to {_iso(self.rows.last_ms)}"
        if self.cut_ms is not None:
            text += f"; {self.gate_rows} newer row(s) from {_iso(self.cut_ms)} kept back for the gate"
        if base is not None:
            text += f"; appended to {base.ref}"
        return text


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


def _store(
    client: TrackingClient,
    dataset: str,
    feedback: pd.DataFrame,
    columns: list[str],
    base: DatasetVersion | None,
    checks: list[Check],
    lineage: _Lineage,
) -> tuple[DatasetVersion, str, int]:
    """Store the version inside a run of ``loopml-feedback`` (the data layer links it as the run's output,
    the base as its input); a failure ends the run failed and stores no version."""
    from loopml import data
    from loopml.tracking._client import describe_error

    current = active_run()
    parent = current.id if current is not None and current.client is client else None
    run = client.create_run(
        EXPERIMENT,
        name=f"feedback {lineage.model} -> {dataset}",
        parent_id=parent,
        tags={"loopml.feedback.model": lineage.model, "loopml.feedback.dataset": dataset},
    )
    base_rows = 0

    def append(base_frame: pd.DataFrame) -> pd.DataFrame:
        """The base's rows (its features and target) followed by the feedback rows, typed as the base."""
        import pandas as pd

        nonlocal base_rows
        base_rows = len(base_frame)
        kept = base_frame[columns]
        fed = feedback.copy()
        for column in columns:
            if fed[column].dtype != kept[column].dtype:
                # what cannot take the base's type (an int column with holes) is widened by concat
                with contextlib.suppress(TypeError, ValueError):
                    fed[column] = fed[column].astype(kept[column].dtype)
        return pd.concat([kept, fed], ignore_index=True)

    append.__qualname__ = "add_feedback"  # the lineage names the public function that made the version

    try:
        with attached_run(run.id, name=run.name, experiment=EXPERIMENT, client=client):
            options: dict[str, Any] = {
                "checks": checks,
                "description": lineage.description(base),
                "tags": lineage.tags(),
                "client": client,
            }
            if base is None:
                version = data.add(dataset, feedback.reset_index(drop=True), **options)
            else:
                version = data.transform(dataset, base, append, **options)
        client.log_params(run.id, lineage.params(base))
        client.log_metrics(
            run.id,
            {
                "feedback_rows": lineage.feedback_rows,
                "base_rows": base_rows,
                "rows": version.num_rows,
                "gate_rows": lineage.gate_rows,
                **({} if lineage.rows.first_ms is None else {"first_ms": lineage.rows.first_ms}),
                **({} if lineage.rows.last_ms is None else {"last_ms": lineage.rows.last_ms}),
            },
        )
        client.set_tags(run.id, {"loopml.feedback.version": version.ref})
    except BaseException as exc:
        client.end_run(run.id, RunStatus.FAILED, describe_error(exc, exc.__traceback__))
        raise
    client.end_run(run.id)
    return version, run.id, base_rows


__all__ = [
    "EXPERIMENT",
    "FeedbackVersion",
    "NotEnoughFeedbackError",
    "add_feedback",
    "feedback_frame",
    "personal_columns",
    "split_by_time",
]
