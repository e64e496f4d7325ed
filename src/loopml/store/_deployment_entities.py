"""The closed loop's entities as the Store hands them out: deployments (what each route of a served model
answers with), and the loop's own state per model (where its retrain-gate-rollout cycle stands, and which
agent holds it).

A ``Deployment`` names the model versions of its routes by reference, never by copy: ``"@champion"`` (an
alias of the registry, which stays the one source of truth for the champion), ``"@challenger"``, or a version
number as text (``"7"``). Promoting a challenger is one alias move; every server following the deployment
picks it up. Each change bumps ``revision`` and keeps the old one in the history, with who changed it and why.

A ``LoopState`` is the agent's memory of one model: the stage of its cycle, the candidate version, and the
stage's own figures in ``data`` (the canary step, when the step started, the trigger that started it, the
triggers already handled). It is written with compare-and-set on ``revision``, so two writers never both win;
a ``Lease`` (a holder and an expiry) keeps two agents from acting on one model at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ROUTES: tuple[str, ...] = ("champion", "canary", "shadow")
# the stages of a model's loop; "idle" waits for a trigger
LOOP_STAGES: tuple[str, ...] = (
    "idle",  # waiting for a trigger
    "retraining",  # the retraining pipeline runs (or ran and its result is being registered)
    "gating",  # the candidate is judged against the champion on fresh labelled data
    "approval",  # the gate passed; promotion waits for a person (`loopml approve`)
    "shadow",  # the candidate answers a copy of the traffic
    "canary",  # the candidate takes a share of traffic (data["step"] indexes the policy's steps)
)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


@dataclass(frozen=True)
class Deployment:
    """What one served model answers with, route by route, at one revision.

    ``champion`` / ``canary`` / ``shadow`` are references relative to ``model``: ``"@alias"`` or a version
    number as text; ``canary_percent`` is the canary's share of traffic (0 to 100). ``sticky`` keeps one
    request key on one route: ``"header:<name>"`` or ``"column:<name>"`` (None: each request is drawn)."""

    id: str
    name: str
    model: str
    champion: str
    canary: str | None
    canary_percent: float
    shadow: str | None
    sticky: str | None
    revision: int
    created_ms: int
    updated_ms: int
    updated_by: str
    reason: str

    @property
    def updated_at(self) -> datetime:
        return _at(self.updated_ms)

    def routes(self) -> dict[str, str | None]:
        return {"champion": self.champion, "canary": self.canary, "shadow": self.shadow}


@dataclass(frozen=True)
class Lease:
    """``holder`` acts on ``model`` until ``expires_ms`` (unless it renews)."""

    model: str
    holder: str
    expires_ms: int


@dataclass(frozen=True)
class LoopState:
    """Where one model's loop stands. ``revision`` is 0 for a state never written."""

    model: str
    stage: str = "idle"
    paused: bool = False
    candidate: int | None = None  # the candidate's version number, from retraining to promotion
    data: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    revision: int = 0
    updated_ms: int = 0

    @property
    def updated_at(self) -> datetime:
        return _at(self.updated_ms)
