"""Adaptive batching: requests that arrive together share one ``predict`` call.

One model thread runs predictions one batch at a time. While it works, new requests queue; the next batch
takes everything queued, up to ``max_batch`` rows. A batch waits (at most ``max_wait``) only while more
requests are known to be on their way, so a lone request is never held back. A batch whose predict fails is
retried request by request, so one bad request cannot fail the others.

A request that arrives alone (nothing else in flight or queued, the model idle, even after every request
ready to run has had its turn) is predicted right on the event loop when the model is fast (its calls have
taken under ``inline_below`` seconds on average): handing it to the model thread and back would cost more
than it saves. A slower model always runs on its thread, so the event loop stays free for health checks.
"""

from __future__ import annotations

import asyncio
import concurrent.futures as cf
import contextlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from loopml.serving._proba import Scored

Predict = Callable[[Any], Any]
Merge = Callable[[list[Any]], Any]


def _concat(parts: list[Any]) -> Any:
    return pd.concat(parts, ignore_index=True)


class Batcher:
    def __init__(
        self,
        predict: Predict,
        *,
        max_batch: int = 64,
        max_wait: float = 0.002,
        on_batch: Callable[[int], None] | None = None,
        on_predict: Callable[[float], None] | None = None,
        merge: Merge = _concat,
        inline_below: float = 0.01,
    ) -> None:
        self.predict = predict
        self.merge = merge
        self.inline_below = inline_below
        self.call_seconds = 0.0  # a moving average of the predict calls' durations (0: not measured yet)
        self._busy = False  # a batch is being predicted on the model thread
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.on_batch = on_batch
        self.on_predict = on_predict  # told each predict call's seconds
        self.pending = 0  # requests admitted and not answered: more may be on their way to the queue
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[Any]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="loopml-model")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop taking batches; requests still queued get an error rather than no answer at all."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        while self._queue is not None and not self._queue.empty():
            _, future = self._queue.get_nowait()
            _settle(
                future, error=RuntimeError("this model version stopped serving before the request's turn")
            )
        await asyncio.to_thread(self._thread.shutdown, wait=True)

    async def submit(self, frame: Any) -> Any:
        """The prediction for ``frame`` (rows: a DataFrame, or whatever ``merge`` joins)."""
        return (await self.submit_timed(frame))[0]

    async def submit_timed(self, frame: Any) -> tuple[Any, float]:
        """The prediction for ``frame``, and the seconds the predict call that made it took (the whole
        batch's call, when it shared one)."""
        assert self._queue is not None, "the batcher is not started"
        if self._alone(frame):
            await asyncio.sleep(0)  # requests already received get to reach the queue first
            if self._alone(frame):
                if self.on_batch is not None:
                    self.on_batch(len(frame))
                return self._timed(frame)
        future: asyncio.Future[tuple[Any, float]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((frame, future))
        return await future

    def _alone(self, frame: Any) -> bool:
        assert self._queue is not None
        return (
            self.pending <= 1
            and not self._busy
            and self._queue.empty()
            and 0 < self.call_seconds < self.inline_below  # measured, and fast
            and len(frame) <= self.max_batch
        )

    def _timed(self, frame: Any) -> tuple[Any, float]:
        started = time.perf_counter()
        try:
            value = self.predict(frame)
        finally:
            seconds = time.perf_counter() - started
            self.call_seconds = seconds if not self.call_seconds else 0.8 * self.call_seconds + 0.2 * seconds
            if self.on_predict is not None:
                self.on_predict(seconds)
        return value, seconds

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        loop = asyncio.get_running_loop()
        while True:
            items = [await queue.get()]
            rows = len(items[0][0])
            waited = 0.0
            while True:
                while not queue.empty() and rows < self.max_batch:
                    item = queue.get_nowait()
                    items.append(item)
                    rows += len(item[0])
                if rows >= self.max_batch or self.pending <= len(items) or waited >= self.max_wait:
                    break
                started = loop.time()
                await asyncio.sleep(0)  # let requests being decoded reach the queue
                if queue.empty():
                    await asyncio.sleep(0.0002)
                waited += loop.time() - started
            self._busy = True
            try:
                await self._dispatch(items, loop)
            finally:
                self._busy = False

    async def _dispatch(
        self, items: list[tuple[Any, asyncio.Future[Any]]], loop: asyncio.AbstractEventLoop
    ) -> None:
        frames = [f for f, _ in items]
        if self.on_batch is not None:
            self.on_batch(sum(len(f) for f in frames))
        try:
            if len(frames) == 1:
                outputs = [await loop.run_in_executor(self._thread, self._timed, frames[0])]
            else:
                merged = self.merge(frames)
                result, seconds = await loop.run_in_executor(self._thread, self._timed, merged)
                if not isinstance(result, Scored):  # answers with their probabilities slice themselves
                    result = np.asarray(result)
                outputs, start = [], 0
                for f in frames:
                    stop = start + len(f)
                    part = result.rows(start, stop) if isinstance(result, Scored) else result[start:stop]
                    outputs.append((part, seconds))
                    start = stop
        except Exception as exc:
            if len(frames) == 1:
                _settle(items[0][1], error=exc)
                return
            for frame, future in items:  # find the request at fault: the others still get their answer
                try:
                    _settle(future, value=await loop.run_in_executor(self._thread, self._timed, frame))
                except Exception as single:
                    _settle(future, error=single)
            return
        for (_, future), output in zip(items, outputs, strict=True):
            _settle(future, value=output)


def _settle(future: asyncio.Future[Any], *, value: Any = None, error: BaseException | None = None) -> None:
    if future.done():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
