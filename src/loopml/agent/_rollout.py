"""The rollout's evidence: the policy's rollback conditions as ``RollbackConditions``, and the candidate's
route (shadow or canary) compared with the champion's over the time since the step began."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.agent._canary import CanaryEvidence, RollbackConditions
    from loopml.agent._policy import RollbackPolicy
    from loopml.tracking import TrackingClient


def conditions_from_policy(rollback: RollbackPolicy) -> RollbackConditions:
    """The policy's ``rollout.rollback`` as the canary comparison takes it."""
    from loopml.agent._canary import RollbackConditions

    performance = rollback.performance
    return RollbackConditions(
        error_rate_max_increase=None if rollback.error_rate is None else rollback.error_rate.max_increase,
        latency_p95_max_ratio=None if rollback.latency_p95_ms is None else rollback.latency_p95_ms.max_ratio,
        performance_metric=None if performance is None else performance.metric,
        performance_max_drop=None if performance is None else performance.max_drop,
        min_label_coverage=0.3 if performance is None else performance.min_label_coverage,
        alpha=rollback.alpha,
        min_requests=rollback.min_requests,
    )


@dataclass(frozen=True)
class Evidence:
    """What the agent reads of a comparison: whether a condition failed, the candidate's requests, a line."""

    comparison: CanaryEvidence

    @property
    def failed(self) -> bool:
        return self.comparison.failed

    @property
    def candidate_requests(self) -> int:
        return int(self.comparison.canary.requests)

    @property
    def summary(self) -> str:
        return self.comparison.reason

    @property
    def verdicts(self) -> tuple[Any, ...]:
        return tuple(self.comparison.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return self.comparison.to_dict()


def evidence(
    name: str,
    mp: Any,
    *,
    route: str,
    candidate: int,
    champion: int,
    since_ms: int,
    until_ms: int,
    client: TrackingClient,
) -> Evidence:
    from loopml.agent._canary import compare_routes

    return Evidence(
        compare_routes(
            name,
            since_ms=since_ms,
            until_ms=until_ms,
            canary_version=candidate,
            champion_version=champion,
            conditions=conditions_from_policy(mp.rollout.rollback),
            client=client,
            route=route,
        )
    )
