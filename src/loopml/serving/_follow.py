"""Following a deployment: what each route of a ``Deployment`` (kept in the Store) serves now.

A server started with ``loopml serve --deployment NAME`` reads the deployment and the aliases it names once
per reload interval, in every worker and every server process on its own, and turns them into a
``RoutePlan``: per route, the exact version to load (``rf:7``) and the reference it came from
(``rf@champion``, shown in ``/admin/routes`` and kept in the lane), plus the canary's percent and the sticky
key. The server compares the plan with its lanes and swaps only the lanes whose version changed (``_app``):
a percent or sticky change alone loads nothing.

The Store and the deployment API (``_deployment``: ``resolve_routes``, ``route_ref``) say what a
deployment names; this module only says what that means for the lanes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from loopml.errors import NotFoundError
from loopml.serving._deployment import route_ref
from loopml.serving._routing import Sticky

if TYPE_CHECKING:
    from loopml.store import Deployment
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


def plan_routes(deployment: Deployment, client: TrackingClient) -> RoutePlan:
    """The plan of ``deployment`` as it stands: its aliases resolved. A champion that names no version
    raises ``NotFoundError``; a canary or shadow whose alias or version is gone is no route."""
    from loopml.serving._deployment import resolve_routes

    refs = deployment.routes()
    resolved = resolve_routes(deployment, client, strict=False)

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


def read_plan(name: str, client: TrackingClient | None = None) -> RoutePlan:
    """The plan of the deployment ``name`` as the Store holds it now (one read, plus one per alias)."""
    from loopml.tracking import get_client

    client = client or get_client()
    return plan_routes(client.store.deployments.get(name), client)
