"""Lanes: one served model version on one route (champion, canary, shadow), with its own batcher.

A request takes a lane when it starts and keeps it to the end, so when a lane is replaced (an alias moved, a
canary changed) the requests already in it finish on the old version while new ones go to the new version.
A replaced lane is closed only once its last request has been answered.

Which lane a request takes: the canary for its share of traffic, else the champion. The draw is random per
request, unless the routes are *sticky* on a request key (``header:<name>``: that header's value;
``column:<name>``: that input column's value in the request's first row). A key is hashed (blake3, the same
in every process) to a point in [0, 100), and the request takes the canary when the point is below the
canary's percent: one key sees one model for as long as the percent holds, in every worker and every server
process, and raising the percent only moves keys from the champion to the canary, never back. A request
without the key is drawn at random.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from blake3 import blake3

from loopml.errors import InvalidArgumentError
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


def pick_canary(percent: float, key: str | None = None) -> bool:
    """Whether a request takes the canary: by its sticky ``key`` when it has one, else by a random draw."""
    if percent <= 0:
        return False
    if key is None:
        return random.random() * 100 < percent
    return sticky_point(key) < percent


_POINTS = float(2**64)


def sticky_point(key: str) -> float:
    """Where ``key`` falls in [0, 100): the first 8 bytes of its blake3 digest, scaled (never Python's
    ``hash``, which each process salts differently)."""
    digest = blake3(key.encode("utf-8", errors="surrogatepass")).digest(8)
    return int.from_bytes(digest, "big") / _POINTS * 100


@dataclass(frozen=True)
class Sticky:
    """A request key that keeps one request on one route: a header's value or an input column's."""

    kind: str  # "header" or "column"
    name: str  # the header's name (lower case, as Starlette keeps headers) or the column's

    @classmethod
    def parse(cls, text: str) -> Sticky:
        kind, sep, name = text.partition(":")
        if not sep or kind not in ("header", "column") or not name.strip():
            raise InvalidArgumentError(
                f"Write sticky as header:<name> or column:<name>, e.g. header:x-customer-id, not {text!r}."
            )
        name = name.strip()
        return cls(kind, name.lower() if kind == "header" else name)

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"

    def key_of(self, rows: Any, columns: list[str]) -> str | None:
        """The key of ``rows`` (a DataFrame, or an array of the signature's ``columns``): the column's value
        in the first row as text, whole numbers without a fraction (so 42 and 42.0 are one key); None when
        the value is missing."""
        if isinstance(rows, np.ndarray):
            if self.name not in columns:
                return None
            value = rows[0, columns.index(self.name)]
        elif isinstance(rows, pd.DataFrame) and self.name in rows.columns:
            value = rows[self.name].iloc[0]
        else:
            return None
        return _key_text(value)


def _key_text(value: Any) -> str | None:
    """A key's value as text, the same however the request sent it; None for a missing value."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() and abs(number) < 2**63 else repr(number)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)
