"""``lm.data.diff``: schema changes, row counts and the columns that moved most, from stored profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import loopml as lm
from loopml.errors import NotFoundError


@pytest.fixture
def before() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = 20_000
    return pd.DataFrame(
        {
            "temp": rng.normal(60, 5, n),
            "rpm": rng.integers(1_000, 3_000, n),
            "status": rng.choice(["ok", "warn", "fail"], n, p=[0.8, 0.15, 0.05]),
            "debug": np.zeros(n),
        }
    )


def test_the_moved_columns_come_first_with_their_measure(before: pd.DataFrame) -> None:
    rng = np.random.default_rng(12)
    after = before.drop(columns=["debug"]).assign(
        temp=before.temp + 10,
        status=rng.choice(["ok", "warn", "fail"], len(before), p=[0.5, 0.3, 0.2]),
        humidity=0.5,
    )
    after.loc[after.index[:2_000], "rpm"] = None
    lm.data.add("sensors", before)
    with pytest.warns(lm.data.SchemaChangeWarning):
        lm.data.add("sensors", after.head(15_000))

    result = lm.data.diff("sensors:1", "sensors@latest")
    assert (result.before, result.after, result.rows) == ("sensors:1", "sensors:2", (20_000, 15_000))
    assert "column 'humidity' added (double)" in result.schema_changes
    assert "column 'debug' removed" in result.schema_changes
    assert any("'rpm' retyped int64 -> double" in c for c in result.schema_changes)
    by_name = {c.name: c for c in result.columns}
    assert [c.name for c in result.columns] == ["temp", "status", "rpm"]  # shared columns, most moved first
    assert by_name["temp"].measure == "ks" and by_name["temp"].score > 0.6
    assert by_name["status"].measure == "tvd"
    observed = after.head(15_000).status.value_counts(normalize=True)
    expected = before.status.value_counts(normalize=True)
    assert by_name["status"].score == pytest.approx(0.5 * (observed - expected).abs().sum(), abs=1e-6)
    assert by_name["rpm"].measure == "nulls" and by_name["rpm"].score == pytest.approx(
        2_000 / 15_000, abs=1e-6
    )
    assert by_name["temp"].after["mean"] == pytest.approx(before.temp.mean() + 10, abs=0.2)
    assert "temp: ks" in result.render()
    assert result.to_dict()["columns"][0]["name"] == "temp"


def test_the_same_data_hardly_moves(before: pd.DataFrame) -> None:
    lm.data.add("sensors", before)
    lm.data.add("sensors", before.sample(frac=1.0, random_state=1).reset_index(drop=True))  # reordered
    result = lm.data.diff("sensors:1", "sensors:2")
    assert result.schema_changes == [] and result.rows == (20_000, 20_000)
    assert max(c.score for c in result.columns) < 0.03  # the quantile sketches' own error


def test_unknown_versions_are_named(before: pd.DataFrame) -> None:
    lm.data.add("sensors", before)
    with pytest.raises(NotFoundError, match="no version 7"):
        lm.data.diff("sensors:1", "sensors:7")
