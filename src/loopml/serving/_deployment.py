"""Deployments: what each route of a served model answers with, kept in the Store so that every server
process and worker following it serves the same thing.

    lm.deploy("churn-live", "churn")                                  # champion: @champion
    lm.deploy("churn-live", canary="@challenger", canary_percent=10, reason="gate passed")
    lm.deploy("churn-live", canary_percent=50)                        # the next canary step
    lm.deploy("churn-live", canary=None)                              # canary off (its share back to 0)
    lm.set_alias("churn", "champion", 7)                               # promotion: one alias move

A deployment names model versions by reference, never by copy: ``"@alias"`` (the registry's aliases stay
the one source of truth, so promoting a challenger is one alias move that every follower picks up) or a
version number (``"7"``). Given, a reference may also be written in full, ``"churn@challenger"`` or
``"churn:7"``; it is stored relative to the deployment's model, and another model's reference is refused.
Each reference given must resolve when it is set (an alias that exists, a version that exists).

Routes: ``champion`` answers every request the canary does not take; ``canary`` takes ``canary_percent``
of the traffic (a canary needs a share above 0; without a canary the share is 0); ``shadow`` answers a copy
of every request, and its answers are logged, never returned. ``sticky`` keeps one request key on one route
while the share holds: ``"header:<name>"`` (a request header, case-insensitive) or ``"column:<name>"`` (an
input column of the champion's signature).

Each change is the deployment's next revision; the history keeps every revision, and the audit log names
who (``LOOPML_USER`` or the login name), when and why.
"""

from __future__ import annotations

import enum
import math
import numbers
import re
from typing import TYPE_CHECKING, Any

from loopml.data import check_name
from loopml.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.store import Deployment, ModelVersion

if TYPE_CHECKING:
    from loopml.models import Signature
    from loopml.tracking import TrackingClient


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


# "leave this route as it is" (None removes the route)
UNSET = _Unset.UNSET
_ROUTE_ARGUMENTS = "'@alias' (as '@champion'), a version number ('7'), 'MODEL@alias' or 'MODEL:7'"
_NUMBER = re.compile(r"[1-9][0-9]*")
_HEADER = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # an HTTP header name (RFC 9110 token)
_ATTEMPTS = 3  # a deployment changed by another writer between reading and writing is read again


def _client(client: TrackingClient | None) -> TrackingClient:
    from loopml.tracking import get_client

    return client or get_client()


def route_ref(model: str, ref: str) -> str:
    """The registry's reference of a route: ``"@x"`` -> ``"model@x"``, ``"7"`` -> ``"model:7"``."""
    if ref.startswith("@"):
        return f"{model}{ref}"
    if _NUMBER.fullmatch(ref):
        return f"{model}:{ref}"
    raise InvalidArgumentError(
        f"{ref!r} is not a stored route reference: it is '@alias' or a version number."
    )


def normalize_ref(model: str, ref: Any, route: str = "route") -> str:
    """A reference given for a route of ``model``'s deployment, as stored: ``"@alias"`` or ``"7"``."""
    if isinstance(ref, bool) or not isinstance(ref, str | int):
        raise InvalidArgumentError(f"The {route} is {_ROUTE_ARGUMENTS}, not {ref!r}.")
    if isinstance(ref, int):
        if ref < 1:
            raise InvalidArgumentError(f"The {route}'s version number counts from 1 (got {ref}).")
        return str(ref)
    if ref.startswith("@"):
        return "@" + check_name(ref[1:], "alias")
    if _NUMBER.fullmatch(ref):
        return ref
    if "@" not in ref and ":" not in ref:
        raise InvalidArgumentError(f"The {route} {ref!r} names no alias or version: use {_ROUTE_ARGUMENTS}.")
    from loopml.registry._registry import parse_model_ref

    parsed = parse_model_ref(ref)
    if parsed.name != model:
        raise InvalidArgumentError(
            f"The {route} {ref!r} names model {parsed.name!r}, but the deployment serves {model!r}: "
            f"a deployment's routes are versions of its own model (deploy {parsed.name!r} separately)."
        )
    return f"@{parsed.alias}" if parsed.alias is not None else str(parsed.version)


def _resolve(model: str, ref: str, client: TrackingClient) -> ModelVersion:
    """The version a stored reference names now; ``NotFoundError`` naming what exists."""
    models = client.store.models
    if ref.startswith("@"):
        if ref == "@latest":
            return models.get_latest(model)
        return models.get_by_alias(model, ref[1:])  # its message names the aliases that exist
    try:
        return models.get_version(model, int(ref))
    except NotFoundError:
        numbers_ = [v.version for v in models.list_versions(model)]  # NotFoundError for an unknown model
        have = ", ".join(map(str, numbers_)) if numbers_ else "none yet"
        raise NotFoundError(
            f"Model {model!r} has no version {ref} (its versions: {have}); `loopml models show {model}` "
            "lists them."
        ) from None


def resolve_routes(
    deployment: Deployment, client: TrackingClient | None = None, *, strict: bool = True
) -> dict[str, ModelVersion | None]:
    """What each route serves now: ``{"champion": ModelVersion, "canary": ... | None, "shadow": ...}`` (None:
    no such route). A route whose alias or version is gone raises ``NotFoundError`` (with ``strict=False``,
    it maps to None)."""
    client = _client(client)
    out: dict[str, ModelVersion | None] = {}
    for route, ref in deployment.routes().items():
        if ref is None:
            out[route] = None
            continue
        try:
            out[route] = _resolve(deployment.model, ref, client)
        except NotFoundError as exc:
            if strict:
                raise NotFoundError(
                    f"Deployment {deployment.name!r} routes its {route} to {ref!r}, which does not resolve: "
                    f"{exc}"
                ) from None
            out[route] = None
    return out


def deploy(
    name: str,
    model: str | None = None,
    *,
    champion: str | int | None = None,
    canary: str | int | _Unset | None = UNSET,
    canary_percent: float | None = None,
    shadow: str | int | _Unset | None = UNSET,
    sticky: str | _Unset | None = UNSET,
    reason: str = "",
    actor: str | None = None,
    expected_revision: int | None = None,
    client: TrackingClient | None = None,
) -> Deployment:
    """Create the deployment ``name`` of ``model`` (champion: ``"@champion"`` unless given), or write its next
    revision with what is given; what is not given stays. ``canary``, ``shadow``, ``sticky``: None removes
    the route (removing the canary sets its share to 0). Returns the revision written (the current one when
    nothing changes).

    ``actor`` names who changes it in the history and the audit log (default: ``LOOPML_USER`` or the login
    name). With ``expected_revision``, a deployment at another revision raises ``ConflictError`` and nothing
    is written; without it, a change racing another is checked again against the newer revision."""
    from loopml.registry import _registry

    client = _client(client)
    check_name(name, "deployment name")
    who = actor or _registry.actor()
    store = client.store
    for _ in range(_ATTEMPTS):
        try:
            current: Deployment | None = store.deployments.get(name)
        except NotFoundError:
            current = None
        if expected_revision is not None and (current.revision if current else 0) != expected_revision:
            have = f"at revision {current.revision}" if current else "not created yet"
            raise ConflictError(
                f"Deployment {name!r} is {have}, not at revision {expected_revision}: it changed since it "
                f"was read. Read it again (`loopml deploy show {name}`) and retry."
            )
        if current is None:
            if model is None:
                raise InvalidArgumentError(
                    f"No deployment named {name!r} exists yet: give its model to create it, as in "
                    f"lm.deploy({name!r}, 'MODEL') or `loopml deploy create {name} --model MODEL`."
                )
            check_name(model, "model name")
            store.models.get_model(model)  # NotFoundError when it is not registered
            target = model
        else:
            if model is not None and model != current.model:
                raise InvalidArgumentError(
                    f"Deployment {name!r} serves model {current.model!r}, not {model!r}; create another "
                    "deployment for that model."
                )
            target = current.model
        changes = _changes(
            target,
            current,
            champion="@champion" if current is None and champion is None else champion,
            canary=canary,
            canary_percent=canary_percent,
            shadow=shadow,
            sticky=sticky,
            client=client,
        )
        try:
            if current is None:
                return store.deployments.create(
                    name, model=target, at_ms=client.now_ms(), actor=who, reason=reason, **changes
                )
            return store.deployments.update(
                name,
                changes,
                at_ms=client.now_ms(),
                actor=who,
                reason=reason,
                expected_revision=current.revision,
            )
        except ConflictError:
            if expected_revision is not None:
                raise
            continue  # created or changed by another writer since it was read: check against that
    raise ConflictError(
        f"Deployment {name!r} kept changing while this change was written ({_ATTEMPTS} tries); try again."
    )


def _changes(
    model: str,
    current: Deployment | None,
    *,
    champion: str | int | None,
    canary: str | int | _Unset | None,
    canary_percent: float | None,
    shadow: str | int | _Unset | None,
    sticky: str | _Unset | None,
    client: TrackingClient,
) -> dict[str, Any]:
    """The fields to write, each checked: references normalised and resolving, the canary's share in range
    and consistent with the canary, a sticky column among the champion's inputs."""
    changes: dict[str, Any] = {}
    if champion is not None:
        changes["champion"] = normalize_ref(model, champion, "champion")
    if canary is not UNSET:
        changes["canary"] = None if canary is None else normalize_ref(model, canary, "canary")
    if shadow is not UNSET:
        changes["shadow"] = None if shadow is None else normalize_ref(model, shadow, "shadow")
    for route in ("champion", "canary", "shadow"):
        if changes.get(route) is not None:
            _resolve(model, changes[route], client)
    if canary_percent is not None:
        changes["canary_percent"] = _percent(canary_percent)
    elif "canary" in changes and changes["canary"] is None:
        changes["canary_percent"] = 0.0
    if sticky is not UNSET:
        changes["sticky"] = None if sticky is None else _sticky(sticky)

    def now(field: str, default: Any) -> Any:
        return changes[field] if field in changes else getattr(current, field, default)

    final_canary, final_percent = now("canary", None), now("canary_percent", 0.0)
    if final_canary is None and final_percent > 0:
        raise InvalidArgumentError(
            f"A canary share of {final_percent:g}% needs a canary: give the canary's reference too "
            "(canary='@challenger', `--canary @challenger`)."
        )
    if final_canary is not None and final_percent <= 0:
        raise InvalidArgumentError(
            f"The canary {final_canary!r} needs a share of traffic above 0: give canary_percent "
            "(`--percent`), or remove the canary (canary=None, `--no-canary`)."
        )
    final_sticky = now("sticky", None)
    if (
        final_sticky is not None
        and final_sticky.startswith("column:")
        and ("sticky" in changes or "champion" in changes)
    ):
        _check_column(model, now("champion", "@champion"), final_sticky.removeprefix("column:"), client)
    return changes


def _percent(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(float(value))
        or not 0 <= float(value) <= 100
    ):
        raise InvalidArgumentError(f"The canary's share is a percent from 0 to 100 (got {value!r}).")
    return float(value)


def _sticky(value: Any) -> str:
    kind, _, key = value.partition(":") if isinstance(value, str) else ("", "", "")
    if kind == "header" and _HEADER.fullmatch(key):
        return f"header:{key.lower()}"  # header names are case-insensitive
    if kind == "column" and key:
        return f"column:{key}"
    raise InvalidArgumentError(
        f"sticky is 'header:<name>' (a request header, such as 'header:x-customer-id') or 'column:<name>' "
        f"(an input column, such as 'column:customer_id'), not {value!r}."
    )


def _check_column(model: str, champion: str, column: str, client: TrackingClient) -> None:
    version = _resolve(model, champion, client)
    signature = _signature(version, client)
    if signature is None or signature.input_format != "dataframe":
        raise InvalidArgumentError(
            f"A sticky column needs the champion ({route_ref(model, champion)}, version {version.version}) "
            "to have a signature with named input columns, and it has none; use 'header:<name>' instead, or "
            "register the model with an input example."
        )
    if column not in signature.input_names:
        raise InvalidArgumentError(
            f"The sticky column {column!r} is not an input of the champion ({route_ref(model, champion)}, "
            f"version {version.version}); its inputs: {', '.join(signature.input_names)}."
        )


def _signature(version: ModelVersion, client: TrackingClient) -> Signature | None:
    """The signature a version's bundle records, read from its ``loopml-model.json`` alone."""
    from loopml.models import META_FILE, ModelMeta

    entries = client.artifacts.read_manifest(version.bundle_digest)
    if META_FILE not in entries:
        return None
    return ModelMeta.from_json(client.artifacts.get_bytes(entries[META_FILE].digest)).signature


def get_deployment(name: str, client: TrackingClient | None = None) -> Deployment:
    """The current revision of deployment ``name``."""
    return _client(client).store.deployments.get(name)


def list_deployments(model: str | None = None, client: TrackingClient | None = None) -> list[Deployment]:
    """Every deployment (of ``model``), by name."""
    return _client(client).store.deployments.list(model)


def deployment_history(name: str, client: TrackingClient | None = None) -> list[Deployment]:
    """Every revision of deployment ``name``, oldest first."""
    return _client(client).store.deployments.history(name)
