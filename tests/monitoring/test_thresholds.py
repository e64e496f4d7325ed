"""Thresholds: fixed bands, bands learned from reference chunks (NannyML's mean ± 3σ), chunks left out."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from loopml.errors import InvalidArgumentError
from loopml.monitoring import (
    Threshold,
    chunk_values,
    fixed,
    learned,
    metric_bounds,
    reference_chunk_thresholds,
    split_chunks,
)


class TestLearned:
    def test_mean_plus_minus_sigmas_population_standard_deviations(self) -> None:
        # [1, 2, 3, 4]: mean 2.5, population variance (2.25 + 0.25 + 0.25 + 2.25) / 4 = 1.25
        band = learned([1, 2, 3, 4], sigmas=1)
        assert band.lower == pytest.approx(2.5 - math.sqrt(1.25))
        assert band.upper == pytest.approx(2.5 + math.sqrt(1.25))
        three = learned([1, 2, 3, 4])
        assert (three.lower, three.upper) == pytest.approx((2.5 - 3 * 1.118034, 2.5 + 3 * 1.118034))
        assert np.std([1, 2, 3, 4]) == pytest.approx(math.sqrt(1.25))  # numpy's default, NannyML's choice

    def test_a_band_is_cut_at_the_metrics_range(self) -> None:
        # f1 over chunks 0.8, 0.9, 0.85, 0.95, 0.75: mean 0.85, σ = sqrt(0.025 / 5) = 0.0707; 3σ = 0.2121
        band = learned([0.8, 0.9, 0.85, 0.95, 0.75], metric="f1")
        assert band.lower == pytest.approx(0.85 - 3 * math.sqrt(0.005))
        assert band.upper == 1.0  # 1.0621 cut at f1's maximum
        assert learned([0.01, 0.02, 0.2], metric="psi(temperature)").lower == 0.0
        assert learned([0.01, 0.02, 0.2], bounds=(0.0, 0.1)).upper == 0.1
        values = np.array([0.01, 0.02, 0.2])
        assert learned(values.tolist()).lower == pytest.approx(values.mean() - 3 * values.std())

    def test_undefined_chunks_are_left_out_and_a_constant_metric_gives_a_point(self) -> None:
        assert learned([1.0, None, 3.0, float("nan")], sigmas=1) == Threshold(1.0, 3.0)
        assert learned([0.5, 0.5, 0.5]) == Threshold(0.5, 0.5)

    def test_each_chunk_is_compared_with_the_others(self) -> None:
        values = [1.0, 2.0, 3.0, 4.0]
        bands = reference_chunk_thresholds(values)
        # chunk 0 against [2, 3, 4]: mean 3, σ = sqrt(2 / 3) = 0.8165, so 3 ± 2.4495
        assert (bands[0].lower, bands[0].upper) == pytest.approx((0.5505103, 5.4494897))
        # chunk 3 against [1, 2, 3]: mean 2, same σ
        assert (bands[3].lower, bands[3].upper) == pytest.approx((-0.4494897, 4.4494897))
        assert [band.breached(v) for band, v in zip(bands, values, strict=True)] == [False] * 4
        outlier = [0.9, 0.91, 0.9, 0.91, 0.5]
        flags = [b.breached(v) for b, v in zip(reference_chunk_thresholds(outlier), outlier, strict=True)]
        assert flags == [False, False, False, False, True]  # its own σ would have hidden it
        assert not learned(outlier).breached(0.5)

    def test_an_undefined_chunk_still_gets_a_band_from_the_others(self) -> None:
        bands = reference_chunk_thresholds([1.0, None, 2.0, 3.0], sigmas=1)
        assert bands[1] == learned([1.0, 2.0, 3.0], sigmas=1)
        assert bands[0] == learned([2.0, 3.0], sigmas=1)


class TestFixedAndBreaches:
    def test_fixed_bands_and_open_sides(self) -> None:
        assert fixed(lower=0.8) == Threshold(0.8, None)
        band = fixed(lower=0.8, upper=0.95)
        assert [band.breached(v) for v in (0.79, 0.8, 0.9, 0.95, 0.96)] == [True, False, False, False, True]
        assert not band.breached(None) and not band.breached(float("nan"))
        assert (
            str(band) == "0.8 .. 0.95"
            and str(fixed(upper=0.2)) == "<= 0.2"
            and str(Threshold()) == "any value"
        )
        assert Threshold.from_dict(band.to_dict()) == band

    def test_metric_ranges(self) -> None:
        assert metric_bounds("estimated.f1") == (0.0, 1.0)
        assert metric_bounds("null_fraction(pressure)") == (0.0, 1.0)
        assert metric_bounds("check.no_nulls") == (0.0, 1.0)
        assert metric_bounds("wasserstein(x)") == (0.0, None)
        assert metric_bounds("r2") == (None, 1.0)
        assert metric_bounds("whatever") == (None, None)

    @pytest.mark.parametrize(
        ("call", "message"),
        [
            (lambda: fixed(), "needs lower="),
            (lambda: fixed(lower=1.0, upper=0.5), "must be below"),
            (lambda: Threshold(0.5, float("inf")), "finite number"),
            (lambda: Threshold("0.5", None), "finite number"),  # type: ignore[arg-type]
            (lambda: Threshold(0.9, 0.1), "must not exceed"),
            (lambda: Threshold.from_dict({"low": 1}), "'lower' and 'upper' only"),
            (lambda: learned([0.5]), "at least 2 reference chunks"),
            (lambda: learned([0.5, "x"]), "must be a number"),  # type: ignore[list-item]
            (lambda: learned([0.5, float("inf")]), "finite values"),
            (lambda: learned([0.5, 0.6], sigmas=-1), "0 or more"),
            (lambda: learned([0.5, 0.6], bounds=[0, 1]), "pair"),  # type: ignore[arg-type]
            (lambda: learned("0.5"), "list of numbers"),  # type: ignore[arg-type]
            (lambda: reference_chunk_thresholds([0.5, 0.6, None]), "at least 3"),
        ],
    )
    def test_bad_arguments(self, call: object, message: str) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            call()  # type: ignore[operator]


class TestChunks:
    def test_chunks_by_count_differ_by_one_row_at_most(self) -> None:
        frame = pd.DataFrame({"x": range(23)})
        pieces = split_chunks(frame, chunks=5)
        assert [len(p) for p in pieces] == [5, 5, 5, 4, 4]
        assert pd.concat(pieces)["x"].tolist() == list(range(23))
        assert len(split_chunks(pd.DataFrame({"x": range(100)}))) == 10

    def test_chunks_by_size_put_the_remainder_in_the_last(self) -> None:
        frame = pd.DataFrame({"x": range(23)})
        assert [len(p) for p in split_chunks(frame, size=5)] == [5, 5, 5, 8]
        assert [len(p) for p in split_chunks(frame.head(20), size=5)] == [5, 5, 5, 5]

    def test_a_metric_per_chunk(self) -> None:
        frame = pd.DataFrame({"y": [1, 1, 0, 0, 1, 0, 1, 1], "p": [1, 0, 0, 0, 1, 1, 1, 1]})
        accuracy = lambda chunk: float((chunk["y"] == chunk["p"]).mean())  # noqa: E731
        assert chunk_values(frame, accuracy, chunks=4) == [0.5, 1.0, 0.5, 1.0]
        assert chunk_values(frame, lambda chunk: None, size=4) == [None, None]

    def test_bad_chunking(self) -> None:
        frame = pd.DataFrame({"x": range(5)})
        for kwargs, message in (
            ({"chunks": 10}, "fewer than chunks=10"),
            ({"size": 6}, "fewer than one chunk"),
            ({"chunks": 2, "size": 2}, "not both"),
            ({"chunks": 0}, "1 or more"),
        ):
            with pytest.raises(InvalidArgumentError, match=message):
                split_chunks(frame, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="DataFrame"):
            split_chunks([1, 2, 3])  # type: ignore[arg-type]
