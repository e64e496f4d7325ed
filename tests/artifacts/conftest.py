"""Fixtures shared by the artifact store tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from blake3 import blake3

MIB = 1 << 20


def _chunks(total: int, block: bytes) -> Iterator[bytes]:
    index = 0
    while total > 0:
        chunk = (index.to_bytes(8, "big") + block[8:])[:total]  # a counter keeps every MiB distinct
        total -= len(chunk)
        index += 1
        yield chunk


class GeneratedStream:
    """``total`` pseudo-random bytes made on demand (never all held at once); records each read size."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.read_sizes: list[int] = []
        self._block = os.urandom(MIB)
        self._source = _chunks(total, self._block)
        self._pending = b""

    def read(self, n: int = -1) -> bytes:
        self.read_sizes.append(n)
        if n is None or n < 0:
            raise AssertionError("the store asked for the whole stream at once")
        while len(self._pending) < n and (nxt := next(self._source, None)) is not None:
            self._pending += nxt
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def expected_digest(self) -> str:
        hasher = blake3()
        for chunk in _chunks(self.total, self._block):
            hasher.update(chunk)
        return hasher.hexdigest()


@pytest.fixture
def generated_stream() -> Callable[[int], GeneratedStream]:
    return GeneratedStream
