"""Registering models, naming versions with aliases, loading them back, and recording evaluations and gates.

References: ``name`` (the newest version), ``name:3``, ``name@champion``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.data import check_name
from loopml.errors import InvalidArgumentError
from loopml.store import AuditEvent, DatasetVersion, ModelVersion

if TYPE_CHECKING:
    from loopml.models import LoadedModel
    from loopml.tracking import ActiveRun, TrackingClient

RESERVED_ALIASES = ("latest",)


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}:{self.version}"
        return self.name if self.alias is None else f"{self.name}@{self.alias}"


def parse_model_ref(ref: str) -> ModelRef:
    """``name``, ``name:3`` or ``name@alias``."""
    if not isinstance(ref, str) or not ref:
        raise InvalidArgumentError(
            f"A model reference is a string such as 'churn:3' or 'churn@champion', not {ref!r}."
        )
    if "@" in ref:
        name, _, alias = ref.partition("@")
        return ModelRef(check_name(name, "model name"), alias=check_name(alias, "alias"))
    if ":" in ref:
        name, _, number = ref.partition(":")
        if not re.fullmatch(r"[1-9][0-9]*", number):
            raise InvalidArgumentError(
                f"In {ref!r}, the version after ':' must be a number from 1, as in 'churn:3'."
            )
        return ModelRef(check_name(name, "model name"), version=int(number))
    return ModelRef(check_name(ref, "model name"))


def actor() -> str:
    """Who is acting: ``LOOPML_USER`` when set (CI), otherwise the login name."""
    from loopml.tracking._source import source_info

    return os.environ.get("LOOPML_USER") or source_info().user or "unknown"


def _client(client: TrackingClient | None) -> TrackingClient:
    from loopml.tracking import get_client

    return client or get_client()


def get_model_version(ref: str | ModelVersion, client: TrackingClient | None = None) -> ModelVersion:
    """The version a reference names: ``churn`` (newest), ``churn:3``, ``churn@champion``."""
    if isinstance(ref, ModelVersion):
        return ref
    parsed = parse_model_ref(ref)
    models = _client(client).store.models
    if parsed.version is not None:
        return models.get_version(parsed.name, parsed.version)
    if parsed.alias is not None and parsed.alias != "latest":
        return models.get_by_alias(parsed.name, parsed.alias)
    return models.get_latest(parsed.name)


def _datasets(data: Any, client: TrackingClient) -> list[DatasetVersion]:
    from loopml.data import get as get_dataset

    if data is None:
        return []
    items = data if isinstance(data, list | tuple) else [data]
    found = []
    for item in items:
        if isinstance(item, DatasetVersion):
            found.append(item)
        elif isinstance(item, str):
            found.append(get_dataset(item, client))
        else:
            raise InvalidArgumentError(
                f"data= names the dataset versions a model was trained on: a DatasetVersion or a reference "
                f"such as 'sensors:3', not a {type(item).__name__}. Add a DataFrame with lm.data.add first."
            )
    return found


def register_model(
    name: str,
    model: Any,
    *,
    input_example: Any = None,
    data: Any = None,
    run: ActiveRun | str | None = None,
    metrics: Mapping[str, float] | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    signature: Any = None,
    personal: Sequence[str] = (),
    flavor: str | None = None,
    reason: str = "",
    client: TrackingClient | None = None,
) -> ModelVersion:
    """Store ``model`` as a bundle and register it as the next version of ``name``; return the version.

    ``data`` names the dataset versions it was trained on; ``run`` the run that made it (default: the active
    run). The signature is inferred from ``input_example`` unless given. The same bundle registered again
    returns its existing version.
    """
    from loopml.models import log_model
    from loopml.tracking import active_run

    check_name(name, "model name")
    client = _client(client)
    datasets = _datasets(data, client)
    if run is None:
        current = active_run()
        run_id = current.id if current is not None else None
    else:
        run_id = run if isinstance(run, str) else run.id
    if run_id is not None:
        client.store.runs.get_run(run_id)  # refuse an unknown run before storing anything
    blob, meta = log_model(
        model,
        client.artifacts,
        flavor=flavor,
        input_example=input_example,
        signature=signature,
        metrics=dict(metrics) if metrics else None,
        personal=personal,
    )
    version, _ = client.store.models.create_version(
        name,
        bundle_digest=blob.digest,
        flavor=meta.flavor,
        created_ms=client.now_ms(),
        created_by=actor(),
        source_run_id=run_id,
        description=description,
        metrics=dict(metrics or {}),
        datasets=[d.id for d in datasets],
        tags={str(k): str(v) for k, v in (tags or {}).items()},
        reason=reason,
    )
    return version


def set_alias(
    name: str,
    alias: str,
    version: int | str | ModelVersion,
    *,
    reason: str = "",
    client: TrackingClient | None = None,
) -> ModelVersion:
    """Point ``alias`` (``champion``, ``challenger``…) at a version of ``name``, moving it atomically."""
    client = _client(client)
    check_name(alias, "alias")
    if alias in RESERVED_ALIASES:
        raise InvalidArgumentError(f"{alias!r} always means the newest version; choose another alias.")
    if isinstance(version, ModelVersion):
        number = version.version
    elif isinstance(version, str):
        number = get_model_version(version if not version.isdigit() else f"{name}:{version}", client).version
    else:
        number = int(version)
    return client.store.models.set_alias(
        name, alias, number, actor=actor(), at_ms=client.now_ms(), reason=reason
    )


def delete_alias(name: str, alias: str, *, reason: str = "", client: TrackingClient | None = None) -> None:
    client = _client(client)
    client.store.models.delete_alias(name, alias, actor=actor(), at_ms=client.now_ms(), reason=reason)


def load_model(ref: str | ModelVersion, client: TrackingClient | None = None) -> LoadedModel:
    """Load a registered version (``churn@champion``, ``churn:3``); its files are verified before loading."""
    from loopml.models import load_model_blob

    client = _client(client)
    version = get_model_version(ref, client)
    return load_model_blob(client.artifacts, version.bundle_digest)


def model_history(name: str, client: TrackingClient | None = None) -> list[AuditEvent]:
    """Every registration, alias move and gate decision of a model, oldest first."""
    client = _client(client)
    client.store.models.get_model(name)
    return client.store.audit.events("model", name)


def list_models(client: TrackingClient | None = None) -> list[Any]:
    return _client(client).store.models.list_models()


def model_versions(name: str, client: TrackingClient | None = None) -> list[ModelVersion]:
    return _client(client).store.models.list_versions(name)


__all__ = [
    "ModelRef",
    "actor",
    "delete_alias",
    "get_model_version",
    "list_models",
    "load_model",
    "model_history",
    "model_versions",
    "parse_model_ref",
    "register_model",
    "set_alias",
]
