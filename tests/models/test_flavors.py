"""Flavors: detection, the generic Python flavor, optional libraries refused clearly when missing, and real
round trips through LightGBM and ONNX when they are installed."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from loopml.errors import InvalidArgumentError, MissingDependencyError, UnsupportedOperationError
from loopml.models import META_FILE, flavors, load_model_dir, save_model


class Doubler:
    """Any object with predict: stored with joblib."""

    def __init__(self, factor: float = 2.0) -> None:
        self.factor = factor

    def predict(self, data: Any) -> Any:
        return np.asarray(data, dtype=float).sum(axis=1) * self.factor


class Thresholds:
    """A class with load(path) and predict; instances save(path) themselves."""

    def __init__(self, cut: float) -> None:
        self.cut = cut

    def save(self, path: str) -> None:
        Path(path, "cut.json").write_text(json.dumps({"cut": self.cut}))

    @classmethod
    def load(cls, path: str) -> Thresholds:
        return cls(json.loads(Path(path, "cut.json").read_text())["cut"])

    def predict(self, data: pd.DataFrame) -> Any:
        return (data["x"] > self.cut).astype(int).to_numpy()


def test_detection_order_and_lookup() -> None:
    assert flavors.names() == ["sklearn", "xgboost", "lightgbm", "onnx", "python"]
    assert flavors.get("sklearn").name == "sklearn"
    assert flavors.detect(LogisticRegression()).name == "sklearn"
    assert flavors.detect(Doubler()).name == "python"
    assert flavors.detect(Thresholds).name == "python"
    with pytest.raises(InvalidArgumentError, match="no model flavor 'keras'"):
        flavors.get("keras")
    with pytest.raises(InvalidArgumentError, match="is not a model"):
        flavors.detect(42)


def test_python_object_with_predict_round_trip(tmp_path: Path) -> None:
    data = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 4.0]})
    meta = save_model(Doubler(3.0), tmp_path / "m", input_example=data)
    assert meta.flavor == "python" and meta.flavor_config["format"] == "joblib"
    assert meta.model_class.endswith("Doubler")
    loaded = load_model_dir(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict(data), [12.0, 18.0])
    with pytest.raises(UnsupportedOperationError):
        loaded.predict_proba(data)


def test_python_instance_that_saves_itself_round_trip(tmp_path: Path) -> None:
    data = pd.DataFrame({"x": [0.2, 0.8]})
    meta = save_model(Thresholds(0.5), tmp_path / "m", input_example=data)
    assert meta.flavor_config["format"] == "class"
    assert meta.flavor_config["class"].endswith(":Thresholds")
    assert set(meta.files) == {"files/cut.json"}
    loaded = load_model_dir(tmp_path / "m")
    assert isinstance(loaded.raw, Thresholds) and loaded.raw.cut == 0.5
    assert loaded.predict(data).tolist() == [0, 1]


def test_python_class_with_its_files_round_trip(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "cut.json").write_text(json.dumps({"cut": 0.1}))
    save_model(Thresholds, tmp_path / "m", model_files=tmp_path / "weights")
    loaded = load_model_dir(tmp_path / "m")
    assert loaded.predict(pd.DataFrame({"x": [0.2]})).tolist() == [1]
    with pytest.raises(InvalidArgumentError, match="pass model_files=PATH"):
        save_model(Thresholds, tmp_path / "m2")


def test_a_class_defined_in_a_function_is_refused(tmp_path: Path) -> None:
    class Local:
        @classmethod
        def load(cls, path: str) -> Local:
            return cls()

        def save(self, path: str) -> None: ...

        def predict(self, data: Any) -> Any:
            return data

    with pytest.raises(InvalidArgumentError, match="define it at the top level of a module"):
        save_model(Local(), tmp_path / "m")
    assert not (tmp_path / "m").exists()


def test_a_registered_flavor_is_asked_first(tmp_path: Path) -> None:
    class Pickled(flavors.Flavor):
        name = "doubler"

        def accepts(self, model: Any) -> bool:
            return isinstance(model, Doubler)

        def save(self, model: Any, folder: Path, options: dict[str, Any]) -> dict[str, Any]:
            (folder / "factor.txt").write_text(str(model.factor))
            return {}

        def load(self, folder: Path, config: dict[str, Any]) -> Any:
            return Doubler(float((folder / "factor.txt").read_text()))

    flavors.register(Pickled())
    try:
        assert flavors.names()[0] == "doubler"
        meta = save_model(Doubler(5.0), tmp_path / "m")
        assert meta.flavor == "doubler" and set(meta.files) == {"factor.txt"}
        assert load_model_dir(tmp_path / "m").raw.factor == 5.0
    finally:
        flavors.unregister("doubler")
    assert "doubler" not in flavors.names()


# -- optional libraries


class _FakeXGB:
    def predict(self, data: Any) -> Any:
        return data


_FakeXGB.__module__ = "xgboost.sklearn"


@pytest.mark.skipif(importlib.util.find_spec("xgboost") is not None, reason="xgboost is installed")
def test_xgboost_models_are_detected_and_refused_without_the_library(tmp_path: Path) -> None:
    model = _FakeXGB()
    assert flavors.detect(model).name == "xgboost"
    assert not flavors.get("xgboost").available()
    with pytest.raises(MissingDependencyError, match="pip install xgboost"):
        save_model(model, tmp_path / "m")
    assert not (tmp_path / "m").exists()


@pytest.mark.skipif(importlib.util.find_spec("xgboost") is not None, reason="xgboost is installed")
def test_a_bundle_of_a_missing_library_is_refused_before_loading(tmp_path: Path) -> None:
    save_model(Doubler(), tmp_path / "m")
    meta_path = tmp_path / "m" / META_FILE
    doc = json.loads(meta_path.read_text())
    doc["flavor"] = "xgboost"
    meta_path.write_text(json.dumps(doc))
    with pytest.raises(MissingDependencyError, match="pip install xgboost") as info:
        load_model_dir(tmp_path / "m")
    assert isinstance(info.value, ImportError)


def test_lightgbm_round_trip(tmp_path: Path) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(1)
    x = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (x["a"] + x["b"] > 0).astype(int)
    clf = lightgbm.LGBMClassifier(n_estimators=10, verbose=-1).fit(x, y)
    meta = save_model(clf, tmp_path / "clf", input_example=x)
    assert meta.flavor == "lightgbm" and any(r.startswith("lightgbm==") for r in meta.requirements)
    loaded = load_model_dir(tmp_path / "clf")
    np.testing.assert_allclose(loaded.predict_proba(x), clf.predict_proba(x))

    booster = clf.booster_
    meta = save_model(booster, tmp_path / "booster", input_example=x)
    assert meta.flavor_config == {"file": "model.txt", "format": "booster"}
    loaded = load_model_dir(tmp_path / "booster")
    np.testing.assert_allclose(loaded.predict(x), booster.predict(x))


def _linear_onnx(weights: list[float], bias: float) -> Any:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    w = helper.make_tensor("W", TensorProto.FLOAT, [len(weights), 1], weights)
    b = helper.make_tensor("B", TensorProto.FLOAT, [1], [bias])
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["X", "W"], ["XW"]), helper.make_node("Add", ["XW", "B"], ["Y"])],
        "linear",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, len(weights)])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def test_onnx_round_trip(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    model = _linear_onnx([2.0, -1.0], 0.5)
    x = pd.DataFrame({"a": [1.0, 2.0], "b": [3.0, 1.0]})
    assert flavors.detect(model).name == "onnx"
    meta = save_model(model, tmp_path / "m", input_example=x)
    assert meta.flavor == "onnx" and set(meta.files) == {"model.onnx"}
    assert any(r.startswith("onnxruntime==") for r in meta.requirements)
    loaded = load_model_dir(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict(x).reshape(-1), [-0.5, 3.5])
    with pytest.raises(UnsupportedOperationError, match="single output"):
        loaded.predict_proba(x)
    again = save_model(model, tmp_path / "m2")
    assert again.files == meta.files
