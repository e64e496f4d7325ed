"""Lanes: one served model version on one route (champion, canary, shadow), with its own batcher.

A request takes a lane when it starts and keeps it to the end, so when a lane is replaced (an alias moved, a
canary changed) the requests already in it finish on the old version while new ones go to the new version.
A replaced lane is closed only once its last request has been answered.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import TYPE_CHECKING, Any

import pandas as pd

from loopml.serving._batcher import Batcher
from loopml.serving._proba import EXAMPLE_ROWS

if TYPE_CHECKING:
    from loopml.serving._app import ServedModel, ServerOptions
    from loopml.serving._metrics import ServerMetrics


class Lane:
    def __init__(
        self, route: str, served: ServedModel, options: ServerOptions, metrics: ServerMetrics
    ) -> None:
        self.route = route
        self.served = served
        self.metrics = metrics
        self.probabilities = options.log_predictions and options.log_probabilities
        self.active = 0  # requests that took this lane and are not answered yet
        self.batcher: Batcher | None = None
        if options.batching:
            self.batcher = Batcher(
                served.score,
                max_batch=options.max_batch,
                max_wait=options.max_wait_ms / 1000,
                on_batch=metrics.batch_size.observe,
                on_predict=metrics.predict_duration.observe,
                merge=served.merge,
            )

    async def start(self) -> None:
        """Warm the model (one predict on its input example), then take requests."""
        seconds = await asyncio.to_thread(warm, self.served, self.probabilities)
        if self.batcher is not None:
            if seconds is not None:
                self.batcher.call_seconds = seconds  # a slow model is kept off the event loop from the start
            await self.batcher.start()

    def enter(self) -> None:
        self.active += 1
        if self.batcher is not None:
            self.batcher.pending += 1

    def leave(self) -> None:
        self.active -= 1
        if self.batcher is not None:
            self.batcher.pending -= 1

    async def predict(self, frame: Any) -> tuple[Any, float]:
        """The prediction for ``frame`` and the seconds its predict call took."""
        if self.batcher is not None:
            return await self.batcher.submit_timed(frame)
        result, seconds = await asyncio.get_running_loop().run_in_executor(
            None, _timed, self.served.score, frame
        )
        self.metrics.predict_duration.observe(seconds)
        return result, seconds

    async def close(self, patience: float = 60.0) -> None:
        """Stop once the requests in this lane are answered (or after ``patience`` seconds)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + patience
        while self.active > 0 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        if self.batcher is not None:
            await self.batcher.stop()

    def describe(self) -> dict[str, Any]:
        return {"model": self.served.name, "version": self.served.version, "ref": self.served.ref}


def _timed(predict: Any, frame: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = predict(frame)
    return value, time.perf_counter() - started


def warm(served: ServedModel, probabilities: bool = False) -> float | None:
    """One prediction on the model's input example, so the first real request does not pay for lazy setup;
    the seconds a second one took (None without an example). With ``probabilities``, first decide how the
    model's class probabilities (if any) are computed with its predictions."""
    example = None
    meta = getattr(served.model, "meta", None)
    if meta is not None and hasattr(meta, "example_frame"):
        try:
            example = meta.example_frame()
        except Exception:
            example = None
    if probabilities:
        checked = None
        if example is not None and len(example):
            try:
                checked = served.frame(served.check(pd.DataFrame(example).head(EXAMPLE_ROWS)))
            except Exception:  # an example that does not fit its own signature: decide without it
                checked = None
        served.plan_probabilities(checked)
    if example is None or not len(example):
        return None
    rows = served.check(pd.DataFrame(example).head(1))
    served.score(rows)
    started = time.perf_counter()
    served.score(rows)
    return time.perf_counter() - started


def pick_canary(percent: float) -> bool:
    return percent > 0 and random.random() * 100 < percent
