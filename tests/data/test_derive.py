"""Declarative fixes and the as-of join, as derived versions with their lineage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import loopml as lm
from loopml.data import fixes
from loopml.errors import InvalidArgumentError
from loopml.tracking import get_client


def objects() -> int:
    return sum(1 for _ in get_client().artifacts.iter_objects())


class TestClean:
    def test_every_fix_in_order_and_recorded(self) -> None:
        raw = lm.data.add(
            "s",
            pd.DataFrame(
                {
                    "machine_id": [1.0, 1.0, 2.0, 3.0],
                    "temp": [20.0, 20.0, None, 500.0],
                    "debug": ["x", "x", "y", "z"],
                }
            ),
        )
        with pytest.warns(lm.data.SchemaChangeWarning, match="'debug' removed"):
            steps = [fixes.drop_duplicates(), fixes.fill_nulls({"temp": 0.0}), fixes.clip("temp", -40, 120)]
            steps += [fixes.cast({"machine_id": "int64"}), fixes.drop_columns(["debug"])]
            clean = lm.data.clean("s:1", steps)
        assert (clean.ref, clean.parents) == ("s:2", (raw.id,))
        out = lm.data.load("s:2")
        assert out.to_dict("list") == {"machine_id": [1, 2, 3], "temp": [20.0, 0.0, 120.0]}
        assert str(out["machine_id"].dtype) == "int64"
        assert clean.transform is not None and [s["fix"] for s in clean.transform["steps"]] == [
            "drop_duplicates",
            "fill_nulls",
            "clip",
            "cast",
            "drop_columns",
        ]
        assert clean.transform["steps"][2] == {"fix": "clip", "column": "temp", "low": -40, "high": 120}
        assert lm.data.get("s@latest").id == clean.id

    def test_into_another_dataset(self) -> None:
        lm.data.add("raw", pd.DataFrame({"a": [1, 1]}))
        assert lm.data.clean("raw:1", [fixes.drop_duplicates()], name="tidy").ref == "tidy:1"

    @pytest.mark.parametrize(
        ("steps", "message"),
        [
            ([fixes.clip("nope", 0, 1)], "no column"),
            ([fixes.cast({"a": "int64"})], "cast"),
            ([], "list of fixes"),
            (["drop_duplicates"], "list of fixes"),
        ],
    )
    def test_bad_fixes_store_nothing(self, steps: list[fixes.Fix], message: str) -> None:
        lm.data.add("s", pd.DataFrame({"a": ["x", "y"]}))
        before = objects()
        with pytest.raises(InvalidArgumentError, match=message):
            lm.data.clean("s:1", steps)
        assert objects() == before and [v.version for v in lm.data.versions("s")] == [1]


def _naive_asof(left: pd.DataFrame, right: pd.DataFrame, tolerance: pd.Timedelta) -> list[float]:
    """Per left row: the latest right row of its machine at or before it, within tolerance (brute force)."""
    out = []
    for _, row in left.iterrows():
        earlier = right[
            (right.machine_id == row.machine_id) & (right.ts <= row.ts) & (right.ts >= row.ts - tolerance)
        ]
        out.append(float(earlier.sort_values("ts").iloc[-1].setting) if len(earlier) else float("nan"))
    return out


class TestJoinAsof:
    def test_latest_earlier_row_never_a_later_one(self) -> None:
        t0 = pd.Timestamp("2026-01-01", tz="UTC")
        readings = pd.DataFrame(
            {  # deliberately not in time order
                "ts": [t0 + pd.Timedelta(minutes=m) for m in (10, 0, 5, 7, 30)],
                "machine_id": [1, 1, 1, 2, 1],
                "temp": [1.0, 2.0, 3.0, 4.0, 5.0],
            }
        )
        settings = pd.DataFrame(
            {
                "ts": [t0 + pd.Timedelta(minutes=m) for m in (0, 6, 11, 7)],
                "machine_id": [1, 1, 1, 2],
                "setting": [100.0, 200.0, 300.0, 900.0],
            }
        )
        lm.data.add("readings", readings)
        lm.data.add("settings", settings)
        joined = lm.data.join_asof(
            "readings:1", "settings@latest", on="ts", by="machine_id", tolerance="15min", name="features"
        )
        out = lm.data.load("features")
        assert out["temp"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]  # left order kept
        # 10 min -> the 6 min row (11 min is later); 0 -> exact match; 7 on machine 2 -> its own 7 min row;
        # 30 min -> 11 min row is 19 min earlier, beyond the tolerance
        assert out["setting"].tolist()[:4] == [200.0, 100.0, 100.0, 900.0] and np.isnan(
            out["setting"].iloc[4]
        )
        assert joined.transform is not None
        assert joined.transform["kind"] == "join_asof" and joined.transform["inputs"] == [
            "readings:1",
            "settings:1",
        ]
        assert {v.ref for v in lm.data.lineage("features:1").sources} == {"readings:1", "settings:1"}

    def test_matches_a_brute_force_answer_on_random_data(self) -> None:
        rng = np.random.default_rng(3)
        t0 = pd.Timestamp("2026-01-01", tz="UTC")
        left = pd.DataFrame(
            {
                "ts": t0 + pd.to_timedelta(rng.integers(0, 5000, 300), unit="s"),
                "machine_id": rng.integers(0, 4, 300),
                "x": np.arange(300.0),
            }
        )
        right = pd.DataFrame(
            {
                "ts": t0 + pd.to_timedelta(rng.choice(5000, 120, replace=False), unit="s"),
                "machine_id": rng.integers(0, 4, 120),
                "setting": rng.normal(size=120),
            }
        )
        lm.data.add("l", left)
        lm.data.add("r", right)
        lm.data.join_asof("l:1", "r:1", on="ts", by="machine_id", tolerance=pd.Timedelta("10min"), name="j")
        got = lm.data.load("j")["setting"].tolist()
        assert np.allclose(got, _naive_asof(left, right, pd.Timedelta("10min")), equal_nan=True)

    def test_bad_joins(self) -> None:
        lm.data.add("l", pd.DataFrame({"ts": [1, 2], "k": [1, 1]}))
        lm.data.add("r", pd.DataFrame({"ts": [1.0, None], "k": [1, 1]}))
        lm.data.add("r2", pd.DataFrame({"time": [1], "k": [1]}))
        with pytest.raises(InvalidArgumentError, match="nulls in 'ts'"):
            lm.data.join_asof("l:1", "r:1", on="ts", by="k", name="j")
        with pytest.raises(InvalidArgumentError, match="no column"):
            lm.data.join_asof("l:1", "r2:1", on="ts", by="k", name="j")
        assert [d.name for d, _ in get_client().store.datasets.list_datasets()] == ["l", "r", "r2"]
