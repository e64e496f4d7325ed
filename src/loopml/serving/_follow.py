"""Following a deployment: what each route of a ``Deployment`` (kept in the Store) serves now.

A server started with ``loopml serve --deployment NAME`` reads the deployment and the aliases it names once
per reload interval, in every worker and every server process on its own, and turns them into a
``RoutePlan``: per route, the exact version to load (``rf:7``) and the reference it came from
(``rf@champion``, shown in ``/admin/routes`` and kept in the lane), plus the canary's percent and the sticky
key. The server compares the plan with its lanes and swaps only the lanes whose version changed (``_app``):
a percent or sticky change alone loads nothing.

Route references are relative to the deployment's model: ``"@alias"`` or a version number as text
(``"7"``); ``relative_ref`` turns a full ``rf@alias`` / ``rf:7`` (what ``PUT /admin/routes`` takes) into
that form, refusing another model's version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from loopml.errors import InvalidArgumentError, NotFoundError
from loopml.serving._routing import Sticky

if TYPE_CHECKING:
    from loopml.store import Deployment, ModelVersion
    from loopml.tracking import TrackingClient


@dataclass(frozen=True)
class RouteTarget:
    """One route's version: ``ref`` as the deployment names it (``rf@champion``), ``version`` as it is now."""

    ref: str
    version: int
    model: str

    @property
    def version_ref(self) -> str:
        """The exact version, for loading: an alias that moves meanwhile does not change what loads."""
        return f"{self.model}:{self.version}"


@dataclass(frozen=True)
class RoutePlan:
    """What a deployment's routes serve at one moment: its revision and each route's version."""

    deployment: str
    revision: int
    model: str
    champion: RouteTarget
    canary: RouteTarget | None
    canary_percent: float
    shadow: RouteTarget | None
    sticky: Sticky | None

    def targets(self) -> dict[str, RouteTarget | None]:
        return {"champion": self.champion, "canary": self.canary, "shadow": self.shadow}


def route_ref(model: str, ref: str) -> str:
    """A route's reference as a full model reference: ``"@x"`` -> ``"model@x"``, ``"7"`` -> ``"model:7"``."""
    return f"{model}{ref}" if ref.startswith("@") else f"{model}:{ref}"


def relative_ref(model: str, ref: str) -> str:
    """``rf@champion`` / ``rf:7`` / ``@champion`` / ``7`` as a route reference of ``model``: ``@champion`` /
    ``7``. Another model's reference raises ``InvalidArgumentError``."""
    text = ref.strip()
    if re.fullmatch(r"[1-9][0-9]*", text) or (text.startswith("@") and len(text) > 1):
        return text
    name, sep, rest = text.partition("@") if "@" in text else text.rpartition(":")
    if not sep or not name or not rest:
        raise InvalidArgumentError(
            f"Name a route's version as @alias, a version number, {model}@alias or {model}:V, not {ref!r}."
        )
    if name != model:
        raise InvalidArgumentError(
            f"{ref} is a version of {name!r}; this deployment serves {model!r}, and its routes must be "
            f"versions of it."
        )
    return relative_ref(model, "@" + rest if sep == "@" else rest)


def resolve_routes(deployment: Deployment, client: TrackingClient) -> dict[str, ModelVersion | None]:
    """What each route of ``deployment`` serves now: its alias looked up, or its version; None for a route
    not set. (The deployment API's ``resolve_routes`` takes this one's place once it lands.)"""
    from loopml.registry import get_model_version

    return {
        route: None if ref is None else get_model_version(route_ref(deployment.model, ref), client)
        for route, ref in deployment.routes().items()
    }


def plan_routes(deployment: Deployment, client: TrackingClient) -> RoutePlan:
    """The plan of ``deployment`` as it stands: its aliases resolved. A champion that names no version
    raises ``NotFoundError``; a canary or shadow whose alias names nothing is no route."""
    refs = deployment.routes()
    try:
        resolved = resolve_routes(deployment, client)
    except NotFoundError:  # an alias names nothing: which one, route by route
        resolved = {route: _lookup(deployment.model, ref, client) for route, ref in refs.items()}

    def target(route: str) -> RouteTarget | None:
        ref, version = refs[route], resolved.get(route)
        if ref is None or version is None:
            return None
        return RouteTarget(route_ref(deployment.model, ref), version.version, deployment.model)

    champion = target("champion")
    if champion is None:
        raise NotFoundError(
            f"Deployment {deployment.name!r} names {deployment.champion} as its champion, and no version of "
            f"{deployment.model!r} answers to it; set that alias (loopml models alias) or point the "
            "deployment's champion at a version (loopml deploy set --champion)."
        )
    canary = target("canary")
    return RoutePlan(
        deployment=deployment.name,
        revision=deployment.revision,
        model=deployment.model,
        champion=champion,
        canary=canary,
        canary_percent=float(deployment.canary_percent) if canary is not None else 0.0,
        shadow=target("shadow"),
        sticky=Sticky.parse(deployment.sticky) if deployment.sticky else None,
    )


def _lookup(model: str, ref: str | None, client: TrackingClient) -> ModelVersion | None:
    from loopml.registry import get_model_version

    if ref is None:
        return None
    try:
        return get_model_version(route_ref(model, ref), client)
    except NotFoundError:
        return None


def read_plan(name: str, client: TrackingClient | None = None) -> RoutePlan:
    """The plan of the deployment ``name`` as the Store holds it now (one read, plus one per alias)."""
    from loopml.tracking import get_client

    client = client or get_client()
    return plan_routes(client.store.deployments.get(name), client)
