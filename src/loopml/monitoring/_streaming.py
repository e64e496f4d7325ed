"""What a window adds up as its rows stream by, so a check holds one batch of rows at a time.

A window of a million rows is read segment by segment, in batches of at most ``BATCH_ROWS`` rows
(``WindowData.batches``); each batch is added to a few small accumulators and dropped. What they hold does
not grow with the window's row count:

- ``RequestCounts``: rows, errors, requests and errors by status are counts (exact); latencies go to
  ``Quantiles``.
- ``Quantiles``: the values themselves while there are at most ``EXACT_ROWS`` of them, so percentiles are
  ``numpy.percentile``'s exactly; past that, a histogram of logarithmic buckets (DDSketch's idea): every
  value lies within ``QUANTILE_ERROR`` (0.5 %) relative of its bucket's midpoint, so each order statistic,
  and the percentile interpolated between two of them, is within 0.5 % of the exact one. The smallest and
  the largest value are kept exactly.
- ``ScoreBins``: for ROC AUC, two weights (positive, negative) per bin of a score in [0, 1], the bins
  evenly spaced in log-odds (fine near 0 and 1, where a confident model's scores crowd). Pairs in
  different bins are ordered exactly; pairs in one bin count as ties (half a pair), as ``roc_auc_score``
  counts equal scores. So the AUC from the bins differs from the exact one by at most half the weight of
  the pairs that share a bin: ``auc_bound`` reports that bound for the window at hand (typically
  below 1e-4 with 8,192 bins).

The performance accumulators (``_performance.PerformanceStream``, ``_cbpe.ExpectedConfusion``) keep the
rows themselves up to ``EXACT_ROWS`` too, and give exactly today's results below it; above it they go by
sums, counts and ``ScoreBins``.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

FloatArray = np.ndarray[Any, np.dtype[np.float64]]

BATCH_ROWS = 65_536  # rows materialised at once when a window is read row by row
EXACT_ROWS = 100_000  # up to this many values an accumulator keeps them and computes exactly
QUANTILE_ERROR = 0.005  # relative error of a percentile once latencies go to buckets
_GAMMA = (1 + QUANTILE_ERROR) / (1 - QUANTILE_ERROR)
_LOG_GAMMA = math.log(_GAMMA)
_SMALLEST = 1e-6  # values at or below this (a latency of 0 ms) share one bucket whose value is 0
_LARGEST = 1e12
_FIRST = math.ceil(math.log(_SMALLEST) / _LOG_GAMMA)
_BUCKETS = math.ceil(math.log(_LARGEST) / _LOG_GAMMA) - _FIRST + 2  # bucket 0: the values <= _SMALLEST
AUC_BINS = 8192
AUC_LOGIT_LIMIT = 16.0  # log-odds beyond +-16 (probabilities within 1e-7 of 0 or 1) share the end bins


class Quantiles:
    """Percentiles of a stream of numbers in bounded memory: exact up to ``exact_limit`` values, then
    within ``QUANTILE_ERROR`` relative (see the module docstring)."""

    def __init__(self, exact_limit: int | None = None) -> None:
        self.exact_limit = EXACT_ROWS if exact_limit is None else exact_limit
        self.count = 0
        self._values: list[FloatArray] = []
        self._buckets: np.ndarray[Any, np.dtype[np.int64]] | None = None
        self._min = math.inf
        self._max = -math.inf

    @property
    def exact(self) -> bool:
        return self._buckets is None

    def add(self, values: FloatArray) -> None:
        values = values[np.isfinite(values)]
        if not len(values):
            return
        self.count += len(values)
        self._min = min(self._min, float(values.min()))
        self._max = max(self._max, float(values.max()))
        if self._buckets is None:
            self._values.append(values)
            if self.count <= self.exact_limit:
                return
            self._buckets = np.zeros(_BUCKETS, dtype=np.int64)
            values, self._values = np.concatenate(self._values), []
        self._buckets += np.bincount(_bucket(values), minlength=_BUCKETS)

    def percentile(self, q: float) -> float | None:
        """``numpy.percentile(values, q)`` (linear interpolation between the two nearest ranks)."""
        if not self.count:
            return None
        if self._buckets is None:
            return float(np.percentile(np.concatenate(self._values), q))
        rank = q / 100 * (self.count - 1)
        low, high = math.floor(rank), math.ceil(rank)
        below, above = self._order_statistic(low), self._order_statistic(high)
        return below + (above - below) * (rank - low)

    def _order_statistic(self, k: int) -> float:
        if k <= 0:
            return self._min
        if k >= self.count - 1:
            return self._max
        assert self._buckets is not None
        i = int(np.searchsorted(np.cumsum(self._buckets), k + 1))
        value = 0.0 if i == 0 else 2 * _GAMMA ** (i - 1 + _FIRST) / (_GAMMA + 1)
        return min(max(value, self._min), self._max)


def _bucket(values: FloatArray) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Bucket i >= 1 holds (gamma^(i-1+_FIRST-1), gamma^(i-1+_FIRST)]; bucket 0 the values <= _SMALLEST."""
    with np.errstate(divide="ignore", invalid="ignore"):
        index = np.ceil(np.log(np.clip(values, _SMALLEST, _LARGEST)) / _LOG_GAMMA) - _FIRST + 1
    index = np.where(values <= _SMALLEST, 0, index)
    out: np.ndarray[Any, np.dtype[np.int64]] = np.clip(index, 0, _BUCKETS - 1).astype(np.int64)
    return out


class RequestCounts:
    """Rows, errors, requests, latencies and errors by status of one version's log rows, batch by batch:
    the figures ``request_counts`` gives for all of them at once, the latencies' percentiles exact up to
    ``EXACT_ROWS`` requests."""

    def __init__(self, ok_status: int) -> None:
        self.ok_status = ok_status
        self.rows = 0
        self.errors = 0
        self.requests = 0
        self.latency = Quantiles()
        self.by_status: Counter[int] = Counter()

    def add(self, meta: pd.DataFrame) -> None:
        """Log rows with ``row``, ``latency_ms`` and ``status`` (filled in)."""
        ok = (meta["status"] == self.ok_status).to_numpy()
        first = (meta["row"].fillna(0) == 0).to_numpy()  # one row per request carries its latency
        self.rows += int(ok.sum())
        errors = int((~ok).sum())
        self.errors += errors
        self.requests += int((ok & first).sum()) + errors
        self.latency.add(meta["latency_ms"].to_numpy(dtype=float)[first | ~ok])
        if errors:
            self.by_status.update(int(s) for s in meta.loc[~ok, "status"].tolist())

    def metrics(self, hours: float) -> tuple[dict[str, float | None], dict[str, Any]]:
        metrics: dict[str, float | None] = {
            "rows": float(self.rows),
            "errors": float(self.errors),
            "error_rate": self.errors / self.requests if self.requests else None,
            "latency_p50_ms": self.latency.percentile(50),
            "latency_p99_ms": self.latency.percentile(99),
            "prediction_rate": self.rows / hours if hours > 0 else None,
        }
        by_status = {str(k): int(self.by_status[k]) for k in sorted(self.by_status)}
        return metrics, {"errors_by_status": by_status}


class ScoreBins:
    """ROC AUC in bounded memory: a positive and a negative weight per bin of a score in [0, 1]
    (``AUC_BINS`` bins evenly spaced in log-odds). The weights are counts for realised metrics, and
    expected counts (p and 1 - p) for CBPE's estimate."""

    def __init__(self, bins: int = AUC_BINS) -> None:
        self.positive = np.zeros(bins)
        self.negative = np.zeros(bins)

    def add(self, score: FloatArray, positive: FloatArray, negative: FloatArray) -> None:
        index = score_bin(score, len(self.positive))
        self.positive += np.bincount(index, weights=positive, minlength=len(self.positive))
        self.negative += np.bincount(index, weights=negative, minlength=len(self.negative))

    def merge(self, other: ScoreBins) -> ScoreBins:
        out = ScoreBins(len(self.positive))
        out.positive, out.negative = self.positive + other.positive, self.negative + other.negative
        return out

    def auc(self) -> float | None:
        """The AUC with pairs in one bin as ties; None when one side has no weight."""
        p_total, n_total = float(self.positive.sum()), float(self.negative.sum())
        if p_total <= 1e-12 or n_total <= 1e-12:
            return None
        above = np.cumsum(self.positive[::-1])[::-1] - self.positive  # positive weight in higher bins
        pairs = float(np.sum(self.negative * (above + 0.5 * self.positive)))
        return float(np.clip(pairs / (p_total * n_total), 0.0, 1.0))

    def auc_bound(self) -> float:
        """How far ``auc`` can be from the AUC of the scores themselves: half the share of the pairs that
        fall in one bin (where the bins cannot tell their order)."""
        p_total, n_total = float(self.positive.sum()), float(self.negative.sum())
        if p_total <= 1e-12 or n_total <= 1e-12:
            return 0.0
        return 0.5 * float(np.sum(self.positive * self.negative)) / (p_total * n_total)


def score_bin(score: FloatArray, bins: int = AUC_BINS) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The bin of each score: monotone in the score, so bins keep the scores' order."""
    eps = 1.0 / (1.0 + math.exp(AUC_LOGIT_LIMIT))
    p = np.clip(np.asarray(score, dtype=float), eps, 1.0 - eps)
    logit = np.log(p) - np.log1p(-p)
    index = np.floor((logit + AUC_LOGIT_LIMIT) / (2 * AUC_LOGIT_LIMIT) * bins)
    out: np.ndarray[Any, np.dtype[np.int64]] = np.clip(index, 0, bins - 1).astype(np.int64)
    return out


__all__ = [
    "AUC_BINS",
    "BATCH_ROWS",
    "EXACT_ROWS",
    "QUANTILE_ERROR",
    "Quantiles",
    "RequestCounts",
    "ScoreBins",
    "score_bin",
]
