"""The agent: the closed loop, one pass at a time.

For each model of the policy, a pass takes the model's lease, reads its loop state from the Store, and moves
it along as far as the evidence allows::

    idle ──trigger──> retraining ──candidate──> gating ──passed──> [shadow] ──> canary step 1 … n ──> promoted
                          │                        │                   │               │
                          └─failed─> idle          └─rejected─> idle   └─rolled back─> idle
                                                  (no fresh labels yet: waits)    [approval] before promotion

- **retraining**: the feedback (logged predictions joined with their labels) is cut in time: the older rows
  (with the policy's base dataset) become the training dataset version, the newest ``holdout`` share is kept
  back. The policy's pipeline runs on the training version; its output is registered as the candidate, with
  the champion's signature and lineage to the training data and the run.
- **gating**: the candidate and the champion are judged by the policy's gate rules on labelled rows strictly
  newer than anything the candidate trained on (stored as a dataset version; the cut is in the audit event).
  Passing sets the ``challenger`` alias.
- **shadow / canary**: the deployment names ``@challenger`` as the shadow, then as the canary at each step's
  share. Each pass compares the candidate's route with the champion's over the same time
  (``compare_routes``): a condition that fails rolls back at once; a step ends after its minimum time and
  requests. After the last step, promotion moves the ``champion`` alias (one move: every server following the
  deployment picks it up) and clears the canary, unless the policy asks for approval first
  (``loopml approve``).

Every decision is an audit event (``loop.*``, entity type ``model``) with its evidence, and the policy's
notifiers hear of each promotion, rejection and rollback. State changes are compare-and-set writes, and each
side effect is safe to repeat, so an agent killed at any point resumes where the Store says it stood. A lease
with expiry keeps two agents from acting on one model at once. Time comes from ``clock`` (epoch ms).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from loopml.errors import ConflictError, LoopmlError, NotFoundError
from loopml.store import LoopState

if TYPE_CHECKING:
    from loopml.tracking import TrackingClient

log = logging.getLogger("loopml.agent")

CHALLENGER = "challenger"
CHAMPION = "champion"
MAX_MOVES_PER_PASS = 8  # stages one pass may run through (idle -> retraining -> gating -> canary ...)
META_COLUMNS = ("request_id", "timestamp_ms", "model_version", "route", "prediction")


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Decision:
    """What one pass did (or found) for one model: ``action`` is the audit action without its ``loop.``
    prefix ("triggered", "retrained", "rejected", "promoted", "rolled_back", ...); "waiting" and "held"
    are not audited."""

    model: str
    action: str
    reason: str
    at_ms: int
    stage: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "action": self.action,
            "reason": self.reason,
            "at_ms": self.at_ms,
            "at": datetime.fromtimestamp(self.at_ms / 1000, tz=UTC).isoformat(),
            "stage": self.stage,
            "details": self.details,
        }


@dataclass(frozen=True)
class LoopMessage:
    """The loop's news for the policy's notifiers (a ``monitoring.Message``)."""

    model: str
    action: str
    reason: str
    at_ms: int
    details: dict[str, Any]

    @property
    def state(self) -> str:
        return "firing" if self.action in ("rejected", "rolled_back", "retrain_failed") else "info"

    @property
    def subject(self) -> str:
        return f"[loopml] {self.model}: {self.action.replace('_', ' ')} — {self.reason}"

    @property
    def text(self) -> str:
        when = datetime.fromtimestamp(self.at_ms / 1000, tz=UTC).isoformat()
        return f"{self.subject}\n\nmodel:  {self.model}\naction: {self.action}\nat:     {when}\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.subject,
            "model": self.model,
            "action": self.action,
            "reason": self.reason,
            "at_ms": self.at_ms,
            "details": self.details,
        }


class _Move:
    """A stage handler's answer: the next state (or None: nothing changes) and the decisions made."""

    def __init__(self, state: LoopState | None, *decisions: Decision, again: bool = True) -> None:
        self.state = state
        self.decisions = list(decisions)
        self.again = again and state is not None  # run the next stage in the same pass


class Agent:
    """Runs ``policy`` (a ``loopml.agent.Policy``) against the configured store.

    ``clock`` returns epoch milliseconds (default: the wall clock); ``holder`` names this agent in leases and
    audit events; ``lease_ms`` is how long a lease lasts without renewal (renewed at every stage)."""

    def __init__(
        self,
        policy: Any,
        *,
        client: TrackingClient | None = None,
        clock: Callable[[], int] | None = None,
        holder: str | None = None,
        lease_ms: int = 10 * 60_000,
        on_decision: Callable[[Decision], None] | None = None,
    ) -> None:
        from loopml.tracking import get_client

        self.policy = policy
        self.client = client or get_client()
        self.clock = clock or (lambda: int(time.time() * 1000))
        self.holder = holder or default_holder()
        self.lease_ms = lease_ms
        self.on_decision = on_decision
        self._notifiers: dict[str, list[Any]] = {}

    @property
    def store(self) -> Any:
        return self.client.store

    # -- passes
    def run_once(self) -> list[Decision]:
        """One pass over every model of the policy; the decisions made."""
        out: list[Decision] = []
        for name, model_policy in self.policy.models.items():
            out.extend(self.step_model(name, model_policy))
        return out

    def run(
        self,
        *,
        interval_s: float = 30.0,
        passes: int | None = None,
        sleep: Callable[[float], object] = time.sleep,
        stop: Callable[[], bool] = lambda: False,
    ) -> None:
        """Pass after pass, ``interval_s`` apart, until ``stop()`` (or ``passes`` passes); leases released at
        the end."""
        done = 0
        try:
            while not stop() and (passes is None or done < passes):
                self.run_once()
                done += 1
                if passes is None or done < passes:
                    sleep(interval_s)
        finally:
            self.release()

    def release(self) -> None:
        """Give up this agent's leases (an agent that dies keeps them until they expire)."""
        for name in self.policy.models:
            self.store.loops.release_lease(name, self.holder)

    def step_model(self, name: str, model_policy: Any) -> list[Decision]:
        """Move one model's loop as far as it goes now."""
        loops = self.store.loops
        now = self.clock()
        if not loops.acquire_lease(name, self.holder, now_ms=now, ttl_ms=self.lease_ms):
            lease = loops.lease(name)
            holder = lease.holder if lease else "another agent"
            held = Decision(name, "held", f"another agent ({holder}) holds this model's lease", now, "")
            self._record(held, model_policy)
            return [held]
        state = loops.get_state(name)
        if state.paused:
            paused = Decision(name, "paused", state.reason or "paused", now, state.stage)
            self._record(paused, model_policy)
            return [paused]
        decisions: list[Decision] = []
        for _ in range(MAX_MOVES_PER_PASS):
            handler = getattr(self, f"_{state.stage}", None)
            if handler is None:
                raise LoopmlError(f"model {name}'s loop is in an unknown stage {state.stage!r}.")
            try:
                move: _Move = handler(name, model_policy, state)
            except Exception as exc:  # a pipeline that fails, a candidate that will not load: recorded
                move = self._failed(name, model_policy, state, exc)
            for decision in move.decisions:
                self._record(decision, model_policy)
            decisions.extend(move.decisions)
            if move.state is None:
                break
            try:
                state = loops.put_state(move.state, at_ms=self.clock())
            except ConflictError:  # written by someone else meanwhile (a pause, an approval): next pass
                break
            if not move.again:
                break
            loops.acquire_lease(name, self.holder, now_ms=self.clock(), ttl_ms=self.lease_ms)
        return decisions

    # -- what happens to decisions
    def _record(self, decision: Decision, model_policy: Any) -> None:
        if self.on_decision is not None:
            self.on_decision(decision)
        if decision.action in ("waiting", "held", "paused"):
            return
        self.store.audit.record(
            at_ms=decision.at_ms,
            actor=f"agent:{self.holder}",
            action=f"loop.{decision.action}",
            entity_type="model",
            entity=decision.model,
            reason=decision.reason,
            details=decision.details,
        )
        if decision.action in ("promoted", "rejected", "rolled_back", "retrain_failed", "approval_needed"):
            self._notify(decision, model_policy)

    def _notify(self, decision: Decision, model_policy: Any) -> None:
        from loopml.monitoring._notifiers import notifiers_from_configs

        if decision.model not in self._notifiers:
            self._notifiers[decision.model] = notifiers_from_configs(list(model_policy.notify))
        message = LoopMessage(
            decision.model, decision.action, decision.reason, decision.at_ms, decision.details
        )
        for notifier in self._notifiers[decision.model]:
            try:
                notifier.send(message)
            except Exception as exc:  # a notifier that fails never stops the loop
                log.warning("the %s notifier failed: %s", getattr(notifier, "name", "?"), exc)

    def _decision(self, name: str, action: str, reason: str, stage: str, **details: Any) -> Decision:
        return Decision(name, action, reason, self.clock(), stage, details)

    def _failed(self, name: str, model_policy: Any, state: LoopState, exc: Exception) -> _Move:
        """A stage that raised: the champion keeps serving, the candidate's routes are cleared, the loop
        goes back to idle with the error recorded."""
        action = "retrain_failed" if state.stage == "retraining" else "failed"
        reason = f"{state.stage} failed: {exc}"
        self._clear_routes(name, model_policy, reason)
        detail = {"error": str(exc), "type": type(exc).__name__, "candidate": state.candidate}
        if not isinstance(exc, LoopmlError) or os.environ.get("LOOPML_AGENT_TRACEBACKS"):
            detail["traceback"] = traceback.format_exc()
        return _Move(
            _idle_after(state, reason, self.clock()),
            self._decision(name, action, reason, state.stage, **detail),
            again=False,
        )

    # -- stages
    def _idle(self, name: str, mp: Any, state: LoopState) -> _Move:
        from loopml.agent._triggers import fired

        now = self.clock()
        hits, seen = fired(list(mp.triggers), dict(state.data.get("seen", {})), self.store, now)
        data = {**state.data, "seen": seen}
        if not hits:
            changed = seen != state.data.get("seen", {})
            return _Move(replace(state, data=data) if changed else None, again=False)
        last = state.data.get("last_retrain_ms")
        if last is not None and now - int(last) < mp.cooldown_ms:
            wait = (int(last) + mp.cooldown_ms - now) / 60_000
            why = f"{hits[0].reason}; in cooldown for {wait:.0f} more minutes, so no retrain yet"
            return _Move(
                replace(state, data=data),
                self._decision(name, "cooldown", why, "idle", triggers=[h.to_dict() for h in hits]),
                again=False,
            )
        reason = "; ".join(h.reason for h in hits)
        trigger = [h.to_dict() for h in hits]
        data = {**data, "trigger": trigger, "last_retrain_ms": now, "started_ms": now}
        for key in ("candidate_dataset", "cut_ms", "gate", "step", "step_started_ms", "promoting"):
            data.pop(key, None)
        return _Move(
            replace(state, stage="retraining", candidate=None, data=data, reason=reason),
            self._decision(name, "triggered", reason, "idle", triggers=trigger),
        )

    def _retraining(self, name: str, mp: Any, state: LoopState) -> _Move:
        from loopml.agent._retrain import retrain

        result = retrain(name, mp, client=self.client, now_ms=self.clock())
        data = {
            **state.data,
            "training": result.training_ref,
            "cut_ms": result.cut_ms,
            "run_id": result.run_id,
        }
        reason = (
            f"retrained as {result.candidate.ref} on {result.training_ref} ({result.training_rows:,} rows, "
            f"{result.feedback_rows:,} of them from production)"
        )
        return _Move(
            replace(state, stage="gating", candidate=result.candidate.version, data=data, reason=reason),
            self._decision(name, "retrained", reason, "retraining", **result.to_dict()),
        )

    def _gating(self, name: str, mp: Any, state: LoopState) -> _Move:
        from loopml.agent._retrain import gate_candidate

        assert state.candidate is not None
        outcome = gate_candidate(
            name,
            mp,
            state.candidate,
            cut_ms=int(state.data["cut_ms"]),
            client=self.client,
            now_ms=self.clock(),
        )
        if outcome.waiting is not None:  # not enough fresh labelled rows yet: labels arrive late
            if state.data.get("gate_waiting") == outcome.waiting:
                return _Move(None, self._decision(name, "waiting", outcome.waiting, "gating"))
            return _Move(
                replace(state, data={**state.data, "gate_waiting": outcome.waiting}),
                self._decision(name, "waiting", outcome.waiting, "gating"),
                again=False,
            )
        details = outcome.to_dict()
        if not outcome.passed:
            reason = f"{name}:{state.candidate} rejected by the gate: {outcome.summary}"
            return _Move(
                _idle_after(state, reason, self.clock()),
                self._decision(name, "rejected", reason, "gating", **details),
                again=False,
            )
        from loopml.registry import set_alias

        set_alias(
            name,
            CHALLENGER,
            state.candidate,
            reason=f"gate passed against the champion: {outcome.summary}",
            client=self.client,
        )
        reason = f"{name}:{state.candidate} passed the gate: {outcome.summary}"
        data = {**state.data, "gate": details}
        data.pop("gate_waiting", None)
        stage = "shadow" if mp.rollout.shadow is not None else "canary"
        data.pop("step", None)
        return _Move(
            replace(state, stage=stage, data=data, reason=reason),
            self._decision(name, "gate_passed", reason, "gating", **details),
        )

    def _shadow(self, name: str, mp: Any, state: LoopState) -> _Move:
        shadow = mp.rollout.shadow
        if "step_started_ms" not in state.data:
            self._deploy(name, mp, shadow=f"@{CHALLENGER}", reason="shadow stage of the candidate")
            data = {**state.data, "step_started_ms": self.clock()}
            reason = f"{name}:{state.candidate} answers a copy of the traffic (shadow)"
            return _Move(
                replace(state, data=data, reason=reason),
                self._decision(name, "shadow_started", reason, "shadow", candidate=state.candidate),
                again=False,
            )
        evidence = self._evidence(name, mp, state, route="shadow")
        if evidence.failed:
            return self._rollback(name, mp, state, evidence, "shadow")
        elapsed = self.clock() - int(state.data["step_started_ms"])
        if elapsed < shadow.duration_ms or evidence.candidate_requests < shadow.min_requests:
            return _Move(None, self._waiting(name, "shadow", elapsed, shadow, evidence))
        self._deploy(name, mp, shadow=None, reason="shadow stage passed")
        data = {k: v for k, v in state.data.items() if k not in ("step", "step_started_ms")}
        reason = f"shadow stage passed: {evidence.summary}"
        return _Move(
            replace(state, stage="canary", data=data, reason=reason),
            self._decision(name, "shadow_passed", reason, "shadow", evidence=evidence.to_dict()),
        )

    def _canary(self, name: str, mp: Any, state: LoopState) -> _Move:
        steps = list(mp.rollout.steps)
        if state.data.get("promoting"):
            return self._promote(name, mp, state, None)
        step = state.data.get("step")
        if not steps:  # no canary steps: promotion right after the gate (or the shadow)
            return self._finish(name, mp, state, None)
        if step is None or "step_started_ms" not in state.data:
            step = 0 if step is None else int(step)
            return self._canary_step(name, mp, state, step)
        step = int(step)
        evidence = self._evidence(name, mp, state, route="canary")
        if evidence.failed:
            return self._rollback(name, mp, state, evidence, "canary")
        elapsed = self.clock() - int(state.data["step_started_ms"])
        rollout = mp.rollout
        if elapsed < rollout.min_duration_ms or evidence.candidate_requests < rollout.min_requests:
            return _Move(None, self._waiting(name, "canary", elapsed, rollout, evidence, steps[step]))
        if step + 1 < len(steps):
            return self._canary_step(name, mp, state, step + 1, evidence)
        undecided = [
            v for v in evidence.verdicts if v.condition.startswith("performance") and v.verdict == "undecided"
        ]
        if mp.rollout.wait_for_performance and undecided:
            why = f"the last step waits for its performance to decide: {undecided[0].reason}"
            return _Move(None, self._decision(name, "waiting", why, "canary"))
        return self._finish(name, mp, state, evidence)

    def _finish(self, name: str, mp: Any, state: LoopState, evidence: Any) -> _Move:
        """Promote, or ask for approval first when the policy says so."""
        if mp.approval and not state.data.get("approved_by"):
            if state.data.get("approval_asked"):
                return _Move(None, self._decision(name, "waiting", "waiting for `loopml approve`", "canary"))
            reason = (
                f"{name}:{state.candidate} passed every canary step; promotion waits for "
                f"`loopml approve {name}`"
            )
            return _Move(
                replace(state, data={**state.data, "approval_asked": True}, reason=reason),
                self._decision(
                    name,
                    "approval_needed",
                    reason,
                    "canary",
                    evidence=None if evidence is None else evidence.to_dict(),
                ),
                again=False,
            )
        return self._promote(name, mp, state, evidence)

    def _canary_step(self, name: str, mp: Any, state: LoopState, step: int, evidence: Any = None) -> _Move:
        percent = float(mp.rollout.steps[step])
        self._deploy(
            name,
            mp,
            canary=f"@{CHALLENGER}",
            canary_percent=percent,
            reason=f"canary step {step + 1} of {len(mp.rollout.steps)}: {percent:g} % of traffic",
        )
        data = {**state.data, "step": step, "step_started_ms": self.clock()}
        reason = f"{name}:{state.candidate} takes {percent:g} % of traffic (canary step {step + 1})"
        details: dict[str, Any] = {"candidate": state.candidate, "step": step + 1, "percent": percent}
        if evidence is not None:
            details["evidence"] = evidence.to_dict()
        return _Move(
            replace(state, stage="canary", data=data, reason=reason),
            self._decision(name, "canary_step", reason, "canary", **details),
            again=False,
        )

    def _promote(self, name: str, mp: Any, state: LoopState, evidence: Any) -> _Move:
        from loopml.registry import delete_alias, set_alias

        assert state.candidate is not None
        if not state.data.get("promoting"):  # written first, so a restart finishes the promotion
            state = self.store.loops.put_state(
                replace(state, data={**state.data, "promoting": True}), at_ms=self.clock()
            )
        approved = state.data.get("approved_by")
        reason = f"{name}:{state.candidate} promoted to champion" + (
            f" (approved by {approved})" if approved else ""
        )
        candidate = state.candidate
        assert candidate is not None
        set_alias(name, CHAMPION, candidate, reason=reason, client=self.client)
        self._deploy(name, mp, canary=None, canary_percent=0.0, shadow=None, reason=reason)
        with contextlib.suppress(NotFoundError):
            delete_alias(name, CHALLENGER, reason="promoted", client=self.client)
        details: dict[str, Any] = {"version": state.candidate, "approved_by": approved}
        if evidence is not None:
            details["evidence"] = evidence.to_dict()
        return _Move(
            _idle_after(state, reason, self.clock(), promoted=state.candidate),
            self._decision(name, "promoted", reason, "canary", **details),
            again=False,
        )

    def _rollback(self, name: str, mp: Any, state: LoopState, evidence: Any, stage: str) -> _Move:
        reason = f"{name}:{state.candidate} rolled back from the {stage}: {evidence.summary}"
        self._clear_routes(name, mp, reason)
        return _Move(
            _idle_after(state, reason, self.clock()),
            self._decision(name, "rolled_back", reason, stage, evidence=evidence.to_dict()),
            again=False,
        )

    # -- helpers
    def _evidence(self, name: str, mp: Any, state: LoopState, *, route: str) -> Any:
        from loopml.agent._rollout import evidence

        champion = self._champion_version(name)
        return evidence(
            name,
            mp,
            route=route,
            candidate=int(state.candidate or 0),
            champion=champion,
            since_ms=int(state.data["step_started_ms"]),
            until_ms=self.clock(),
            client=self.client,
        )

    def _waiting(
        self, name: str, stage: str, elapsed: int, need: Any, evidence: Any, percent: float | None = None
    ) -> Decision:
        at = f" at {percent:g} %" if percent is not None else ""
        reason = (
            f"{stage}{at}: {elapsed / 60_000:.0f} of {need.min_duration_ms / 60_000:.0f} minutes, "
            f"{evidence.candidate_requests} of {need.min_requests} requests; {evidence.summary}"
            if hasattr(need, "min_duration_ms")
            else f"{stage}: {elapsed / 60_000:.0f} of {need.duration_ms / 60_000:.0f} minutes, "
            f"{evidence.candidate_requests} of {need.min_requests} requests; {evidence.summary}"
        )
        return self._decision(name, "waiting", reason, stage)

    def _champion_version(self, name: str) -> int:
        return int(self.store.models.get_by_alias(name, CHAMPION).version)

    def _deployment_name(self, name: str, mp: Any) -> str:
        return str(mp.deployment or name)

    def _deploy(self, name: str, mp: Any, *, reason: str, **changes: Any) -> None:
        from loopml.serving._deployment import deploy

        deploy(
            self._deployment_name(name, mp),
            name,
            reason=reason,
            actor=f"agent:{self.holder}",
            client=self.client,
            **changes,
        )

    def _clear_routes(self, name: str, mp: Any, reason: str) -> None:
        """The candidate leaves every route (the champion keeps serving) and loses the challenger alias."""
        from loopml.registry import delete_alias
        from loopml.serving._deployment import get_deployment

        try:
            current = get_deployment(self._deployment_name(name, mp), client=self.client)
        except NotFoundError:
            current = None
        if current is not None and (current.canary is not None or current.shadow is not None):
            self._deploy(name, mp, canary=None, canary_percent=0.0, shadow=None, reason=reason)
        with contextlib.suppress(NotFoundError):
            delete_alias(name, CHALLENGER, reason=reason, client=self.client)


def _idle_after(state: LoopState, reason: str, now_ms: int, **remember: Any) -> LoopState:
    keep = {k: v for k, v in state.data.items() if k in ("seen", "last_retrain_ms")}
    keep["last"] = {"at_ms": now_ms, "candidate": state.candidate, "reason": reason, **remember}
    return replace(state, stage="idle", candidate=None, data=keep, reason=reason)


# -- what people do to the loop


def set_paused(
    model: str,
    paused: bool,
    *,
    reason: str = "",
    client: TrackingClient | None = None,
    at_ms: int | None = None,
) -> LoopState:
    """Hold a model's loop where it is (``paused``) or let it go on; an audit event either way."""
    from loopml.registry._registry import actor
    from loopml.tracking import get_client

    client = client or get_client()
    now = client.now_ms() if at_ms is None else at_ms
    for _ in range(5):
        state = client.store.loops.get_state(model)
        try:
            written = client.store.loops.put_state(
                replace(state, paused=paused, reason=reason or ("paused" if paused else state.reason)),
                at_ms=now,
            )
            break
        except ConflictError:
            continue
    else:
        raise ConflictError(f"model {model}'s loop kept changing; try again.")
    client.store.audit.record(
        at_ms=now,
        actor=actor(),
        action="loop.paused" if paused else "loop.resumed",
        entity_type="model",
        entity=model,
        reason=reason,
        details={"stage": state.stage},
    )
    return written


def approve(
    model: str, *, reason: str = "", client: TrackingClient | None = None, at_ms: int | None = None
) -> LoopState:
    """Record a person's approval of the candidate waiting for promotion; the agent promotes it on its next
    pass. Refused when no candidate waits."""
    from loopml.errors import InvalidArgumentError
    from loopml.registry._registry import actor
    from loopml.tracking import get_client

    client = client or get_client()
    now = client.now_ms() if at_ms is None else at_ms
    who = actor()
    state = client.store.loops.get_state(model)
    if state.candidate is None or state.stage not in ("canary", "shadow", "gating"):
        raise InvalidArgumentError(
            f"no candidate of {model} waits for approval (its loop is {state.stage}); "
            "`loopml loop status` shows where each model stands."
        )
    written = client.store.loops.put_state(
        replace(state, data={**state.data, "approved_by": who, "approved_ms": now}), at_ms=now
    )
    client.store.audit.record(
        at_ms=now,
        actor=who,
        action="loop.approved",
        entity_type="model",
        entity=model,
        reason=reason,
        details={"candidate": state.candidate},
    )
    return written


def loop_status(
    client: TrackingClient | None = None, models: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Per model (those with a stored state, and those of ``models``): stage, candidate, why, lease."""
    from loopml.tracking import get_client

    client = client or get_client()
    loops = client.store.loops
    states = {s.model: s for s in loops.states()}
    for name in models or {}:
        states.setdefault(name, loops.get_state(name))
    out = []
    for name, state in sorted(states.items()):
        lease = loops.lease(name)
        out.append(
            {
                "model": name,
                "stage": state.stage,
                "paused": state.paused,
                "candidate": state.candidate,
                "reason": state.reason,
                "step": state.data.get("step"),
                "updated_ms": state.updated_ms,
                "lease": None if lease is None else {"holder": lease.holder, "expires_ms": lease.expires_ms},
                "last": state.data.get("last"),
            }
        )
    return out
