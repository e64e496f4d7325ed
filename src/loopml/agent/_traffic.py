"""Simulated traffic to a deployment: requests answered and logged as the servers following it would log
them, at the times a simulation chooses. The demo and the loop's scenario tests use it to play days of
production in seconds; real traffic goes through ``loopml serve --deployment``.

Each ``send`` re-reads the deployment and its aliases (as a server does every reload interval), draws each
request's route by the canary's share, predicts with that route's version (a shadow answers a copy too),
and writes the rows to the prediction log with their simulated timestamps. ``faults`` makes a version fail a
share of its requests (logged as error rows, status 500) and ``latency_ms`` sets a version's latency, so
that a rollout can be shown a canary that errs or is slow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from loopml.tracking import TrackingClient


class Traffic:
    def __init__(
        self,
        deployment: str,
        *,
        client: TrackingClient | None = None,
        seed: int = 0,
        faults: Mapping[int, float] | None = None,
        latency_ms: Mapping[int, float] | None = None,
    ) -> None:
        import numpy as np

        from loopml.tracking import get_client

        self.deployment = deployment
        self.client = client or get_client()
        self.rng = np.random.default_rng(seed)
        self.faults = dict(faults or {})
        self.latency_ms = dict(latency_ms or {})
        self._models: dict[int, Any] = {}
        self._count = 0

    def _model(self, version: Any) -> Any:
        if version.version not in self._models:
            from loopml.registry import load_model

            self._models[version.version] = load_model(version, self.client)
        return self._models[version.version]

    def send(self, rows: pd.DataFrame, times_ms: Sequence[int], *, prefix: str = "req") -> list[str]:
        """Answer one single-row request per row of ``rows`` at ``times_ms``; the request ids, in order."""
        import numpy as np

        from loopml.monitoring import PredictionLogger
        from loopml.serving._deployment import get_deployment, resolve_routes

        deployment = get_deployment(self.deployment, client=self.client)
        routes = resolve_routes(deployment, client=self.client)
        champion, canary, shadow = routes["champion"], routes.get("canary"), routes.get("shadow")
        if champion is None:
            raise ValueError(f"deployment {self.deployment} has no champion to answer requests")
        share = deployment.canary_percent / 100 if canary is not None else 0.0
        takes_canary = self.rng.random(len(rows)) < share
        now = {"ms": int(times_ms[-1]) if len(times_ms) else 0}
        ids: list[str] = []
        with PredictionLogger(
            self.client.store,
            self.client.artifacts,
            model=deployment.model,
            flush_interval=3600.0,
            clock=lambda: now["ms"] / 1000,
            personal=self._personal(champion, canary, shadow),
        ) as logger:
            answering = [
                (canary, "canary") if c and canary is not None else (champion, "champion")
                for c in takes_canary
            ]
            by_route: dict[tuple[int, str], list[int]] = {}
            for i, (version, route) in enumerate(answering):
                by_route.setdefault((version.version, route), []).append(i)
            if shadow is not None:
                by_route[(shadow.version, "shadow")] = list(range(len(rows)))
            versions = {v.version: v for v in (champion, canary, shadow) if v is not None}
            for _ in range(len(rows)):
                self._count += 1
                ids.append(f"{prefix}-{self._count:07d}")
            for (number, route), index in by_route.items():
                model = self._model(versions[number])
                x = rows.iloc[index]
                predicted = np.asarray(model.predict(x))
                proba, classes = None, ()
                known = getattr(model.raw, "classes_", None)
                if model.has_proba and known is not None:
                    proba = np.asarray(model.predict_proba(x))
                    classes = tuple(v.item() if hasattr(v, "item") else v for v in known)
                failing = self.faults.get(number, 0.0)
                fails = self.rng.random(len(index)) < failing
                base_latency = self.latency_ms.get(number, 4.0)
                for j, row in enumerate(index):
                    latency = float(base_latency * (0.75 + 0.5 * self.rng.random()))
                    if fails[j]:
                        logger.log_error(
                            request_id=ids[row],
                            model_version=number,
                            route=route,
                            status=500,
                            latency_ms=latency,
                            timestamp_ms=int(times_ms[row]),
                        )
                        continue
                    logger.log(
                        request_id=ids[row],
                        model_version=number,
                        route=route,
                        inputs=x.iloc[[j]],
                        outputs=predicted[j : j + 1],
                        probabilities=None if proba is None else proba[j : j + 1],
                        classes=classes if proba is not None else (),
                        latency_ms=latency,
                        timestamp_ms=int(times_ms[row]),
                    )
        return ids

    def _personal(self, *versions: Any) -> list[str]:
        """The columns personal in any version answering: the log hashes them, as a server's does."""
        out: list[str] = []
        for version in versions:
            if version is not None:
                signature = self._model(version).signature
                if signature is not None:
                    out.extend(signature.personal_columns)
        return out
