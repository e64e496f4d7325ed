"""Step outputs by type: DataFrame -> Parquet, NumPy -> .npy, JSON-able -> JSON, the rest -> joblib."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from loopml.errors import InvalidArgumentError
from loopml.pipelines import Materializer, load_value, materializers, register_materializer
from loopml.pipelines._materializers import _registry, save_value
from loopml.tracking import get_client


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), "pandas.parquet"),
        (np.arange(6, dtype="float32").reshape(2, 3), "numpy.npy"),
        ({"k": [1, 2.5, None, "s", True]}, "json"),
        ((1, 2), "joblib"),  # a tuple would come back from JSON as a list
        (float("inf"), "joblib"),
    ],
)
def test_each_type_round_trips_through_its_materializer(value: Any, name: str) -> None:
    artifacts = get_client().artifacts
    stored = save_value(value, artifacts)
    assert stored.materializer == name
    back = load_value(stored, artifacts)
    if isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(back, value)
    elif isinstance(value, np.ndarray):
        np.testing.assert_array_equal(back, value)
        assert back.dtype == value.dtype
    else:
        assert back == value and type(back) is type(value)


def test_a_fitted_model_round_trips_with_joblib() -> None:
    X, y = np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1])
    model = LogisticRegression().fit(X, y)
    artifacts = get_client().artifacts
    stored = save_value(model, artifacts)
    assert stored.materializer == "joblib" and stored.type_name.endswith("LogisticRegression")
    assert list(load_value(stored, artifacts).predict(X)) == [0, 0, 1, 1]


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


class PointMaterializer(Materializer):
    name: ClassVar[str] = "test.point"
    version: ClassVar[str] = "3"

    def can_save(self, value: Any) -> bool:
        return isinstance(value, Point)

    def save(self, value: Any, path: Path) -> None:
        path.write_text(str(value.x))

    def load(self, path: Path) -> Any:
        return Point(int(path.read_text()))


def test_a_registered_materializer_comes_first_and_is_named_in_the_record() -> None:
    saved = list(_registry)
    try:
        register_materializer(PointMaterializer)
        assert materializers()[0].name == "test.point"
        stored = save_value(Point(7), get_client().artifacts)
        assert (stored.materializer, stored.version) == ("test.point", "3")
        assert load_value(stored, get_client().artifacts).x == 7
    finally:
        _registry[:] = saved


def test_bad_materializers_and_values_get_clear_errors() -> None:
    with pytest.raises(InvalidArgumentError, match=r"subclasses loopml\.pipelines\.Materializer"):
        register_materializer(object())  # type: ignore[arg-type]
    import threading

    with pytest.raises(InvalidArgumentError, match="register a materializer for this type"):
        save_value(threading.Lock(), get_client().artifacts)


def test_a_tampered_output_is_refused() -> None:
    from loopml.errors import IntegrityError

    artifacts = get_client().artifacts
    stored = save_value({"a": 1}, artifacts)
    path = artifacts.local_path(stored.digest)
    assert path is not None
    path.chmod(0o644)
    path.write_text('{"a": 2}')
    with pytest.raises(IntegrityError):
        load_value(stored, artifacts)
