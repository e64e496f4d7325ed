"""Vectorized pieces of the column sketches: 64-bit hashing of Arrow arrays, a HyperLogLog over numpy, and
the thinning that keeps a KLL sketch's sample within budget.

DataSketches' own HLL takes one Python value per call (about 200 ns each, 40 s for 10 million rows x 20
columns); hashing a whole record batch with numpy and folding it into registers costs a few ns per value.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

HLL_P = 12  # 4,096 registers: a standard error of 1.6 %
_Q = 64 - HLL_P
_M = 1 << HLL_P
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_POLY = np.uint64(0x100000001B3)
_SEED = np.uint64(0x9E3779B97F4A7C15)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: spreads every input bit over the whole 64-bit word."""
    x = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> np.uint64(30)
        x *= _MIX1
        x ^= x >> np.uint64(27)
        x *= _MIX2
        x ^= x >> np.uint64(31)
    return x


def hash_numbers(values: np.ndarray) -> np.ndarray:
    """64-bit hashes of integers or floats (``-0.0`` hashes as ``0.0``)."""
    if values.dtype.kind == "f":
        values = values.astype(np.float64) + 0.0
        return mix64(values.view(np.uint64))
    return mix64(values.astype(np.int64).view(np.uint64))


def hash_strings(array: pa.Array) -> np.ndarray:
    """64-bit hashes of the non-null values of a string or binary array, without Python objects per value:
    a polynomial hash over the UTF-8 bytes, folded per value with ``add.reduceat``, then mixed."""
    array = pc.drop_null(array)
    wide = pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type)
    array = array.cast(pa.large_binary() if wide else pa.binary())
    offset_type: type[np.signedinteger[Any]] = np.int64 if wide else np.int32
    n = len(array)
    if n == 0:
        return np.empty(0, np.uint64)
    buffers = array.buffers()
    width = np.dtype(offset_type).itemsize
    offsets = np.frombuffer(buffers[1], dtype=offset_type, count=n + 1, offset=array.offset * width)
    offsets = offsets.astype(np.int64)
    start, end = offsets[0], offsets[-1]
    lengths = np.diff(offsets)
    data = (
        np.frombuffer(buffers[2], dtype=np.uint8, count=end - start, offset=start)
        if buffers[2] is not None and end > start
        else np.empty(0, np.uint8)
    )
    hashes = lengths.astype(np.uint64) ^ _SEED  # the empty string hashes by its length alone
    width = int(lengths[0])
    if len(data) and width > 0 and len(data) == width * n and (lengths == width).all():
        # every value as long as the others (ids, codes): one row of a matrix each, no per-byte indexing
        with np.errstate(over="ignore"):
            rows = (data.reshape(n, width).astype(np.uint64) + np.uint64(1)) * _powers(width)[:width]
            hashes = hashes * _POLY + rows.sum(axis=1, dtype=np.uint64)
    elif len(data):
        starts = offsets[:-1] - start
        position = np.arange(len(data), dtype=np.int64) - np.repeat(starts, lengths)
        powers = _powers(int(lengths.max()))
        with np.errstate(over="ignore"):
            terms = (data.astype(np.uint64) + np.uint64(1)) * powers[position]
            nonempty = lengths > 0
            sums = np.add.reduceat(terms, starts[nonempty])
            hashes[nonempty] = hashes[nonempty] * _POLY + sums
    return mix64(hashes)


_power_cache: list[np.ndarray] = [np.ones(1, np.uint64)]


def _powers(length: int) -> np.ndarray:
    table = _power_cache[0]
    if len(table) < length:
        size = max(length, 2 * len(table))
        exponents = np.empty(size, np.uint64)
        exponents[0] = 1
        with np.errstate(over="ignore"):
            for i in range(1, size):  # grows rarely: the longest value seen so far
                exponents[i] = exponents[i - 1] * _POLY
        _power_cache[0] = table = exponents
    return table


class HyperLogLog:
    """Distinct-count sketch: registers merge by elementwise max, so the union of two is exact."""

    __slots__ = ("registers",)

    def __init__(self, registers: np.ndarray | None = None) -> None:
        self.registers = np.zeros(_M, np.uint8) if registers is None else registers

    def update(self, hashes: np.ndarray) -> None:
        if len(hashes) == 0:
            return
        index = (hashes >> np.uint64(_Q)).astype(np.intp)
        # rank = trailing zeros of the other bits + 1 (as good as leading zeros for a uniform hash), counted
        # with integer operations: the lowest set bit, minus one, is a run of ones to count
        rest = hashes | np.uint64(1 << _Q)  # caps the rank at _Q + 1
        with np.errstate(over="ignore"):
            lowest = rest & (~rest + np.uint64(1))
        rank = np.bitwise_count(lowest - np.uint64(1)).astype(np.uint8) + np.uint8(1)
        np.maximum.at(self.registers, index, rank)

    def merge(self, other: HyperLogLog) -> HyperLogLog:
        return HyperLogLog(np.maximum(self.registers, other.registers))

    def estimate(self) -> float:
        """Ertl's improved estimator (2017): unbiased from one value to billions, no empirical tables."""
        counts = np.bincount(self.registers, minlength=_Q + 2).astype(np.float64)
        m = float(_M)
        z = m * _tau(1.0 - counts[_Q + 1] / m)
        for k in range(_Q, 0, -1):
            z = 0.5 * (z + counts[k])
        z += m * _sigma(counts[0] / m)
        if math.isinf(z):
            return 0.0
        return m * m / (2.0 * math.log(2.0)) / z

    def to_bytes(self) -> bytes:
        return self.registers.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> HyperLogLog:
        registers = np.frombuffer(data, dtype=np.uint8).copy()
        if len(registers) != _M:
            raise ValueError(f"a HyperLogLog of {len(registers)} registers; expected {_M}")
        return cls(registers)


def _sigma(x: float) -> float:
    if x == 1.0:
        return math.inf
    y, z = 1.0, x
    while True:
        x *= x
        before = z
        z += x * y
        y += y
        if z == before:
            return z


def _tau(x: float) -> float:
    if x in (0.0, 1.0):
        return 0.0
    y, z = 1.0, 1.0 - x
    while True:
        x = math.sqrt(x)
        before = z
        y *= 0.5
        z -= (1.0 - x) ** 2 * y
        if z == before:
            return z / 3.0


def thin_kll(sketch: object, factor: int, seed: int = 0) -> object:
    """A KLL sketch of a ``1/factor`` sample of what ``sketch`` summarizes: each retained item keeps its
    weight divided by ``factor``, the remainder rounded at random (seeded, so profiles are reproducible)."""
    from datasketches import kll_doubles_sketch

    thinned = kll_doubles_sketch(sketch.k)  # type: ignore[attr-defined]
    pairs = list(sketch)  # type: ignore[call-overload]
    if not pairs:
        return thinned
    items = np.fromiter((p[0] for p in pairs), np.float64, len(pairs))
    weights = np.fromiter((p[1] for p in pairs), np.int64, len(pairs))
    whole, rest = np.divmod(weights, factor)
    rng = np.random.default_rng(seed)
    counts = whole + (rng.random(len(weights)) < rest / factor)
    if counts.sum():
        thinned.update(np.repeat(items, counts))
    return thinned
