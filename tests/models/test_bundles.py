"""Model bundles: saved with their flavor, signature and environment, refused when a file was changed."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from loopml.artifacts import LocalArtifactStore
from loopml.errors import (
    IntegrityError,
    InvalidArgumentError,
    SignatureError,
    UnsupportedOperationError,
)
from loopml.models import (
    META_FILE,
    LoadedModel,
    ModelEnvironmentWarning,
    ModelMeta,
    Signature,
    load_model_blob,
    load_model_dir,
    log_model,
    save_model,
)


def training() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 60
    x = pd.DataFrame(
        {
            "temp": rng.normal(50, 10, n),
            "cycles": rng.integers(0, 1000, n),
            "status": pd.Categorical(rng.choice(["ok", "warn"], n)),
            "email": [f"u{i}@example.org" for i in range(n)],
        }
    )
    y = (x["temp"] > 50).astype(int).to_numpy()
    return x, y


def pipeline() -> Pipeline:
    x, y = training()
    pre = ColumnTransformer(
        [("num", StandardScaler(), ["temp", "cycles"]), ("cat", OneHotEncoder(), ["status"])]
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression())]).fit(x, y)


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


def test_sklearn_pipeline_round_trip_through_the_store(artifacts: LocalArtifactStore) -> None:
    x, _ = training()
    model = pipeline()
    blob, meta = log_model(
        model, artifacts, input_example=x, metrics={"f1": 0.9}, personal=["email"], extra={"team": "ml"}
    )
    assert blob.kind == "dir"
    assert meta.flavor == "sklearn"
    assert set(meta.files) == {"model.joblib"}
    assert meta.metrics == {"f1": 0.9} and meta.extra == {"team": "ml"}
    assert meta.signature is not None and meta.signature.personal_columns == ["email"]
    assert [c.type for c in meta.signature.outputs] == ["integer"]
    assert len(meta.input_example) == 5 and meta.input_example[0]["status"] in ("ok", "warn")
    assert {"python", "loopml", "scikit-learn", "numpy", "pandas", "joblib"} <= set(meta.environment)
    names = [r.split("==")[0] for r in meta.requirements]
    assert {"scikit-learn", "numpy", "pandas", "joblib"} <= set(names)
    assert all("==" in r for r in meta.requirements)

    loaded = load_model_blob(artifacts, blob.digest)
    assert isinstance(loaded, LoadedModel)
    assert loaded.flavor == "sklearn" and loaded.signature == meta.signature and loaded.digest == blob.digest
    assert isinstance(loaded.raw, Pipeline)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    np.testing.assert_allclose(loaded.predict_proba(x), model.predict_proba(x))
    assert loaded.meta.to_dict() == meta.to_dict()
    example = loaded.meta.example_frame()
    assert example is not None and list(example.columns) == list(x.columns)


def test_restored_bundle_folder_goes_away_with_the_model(artifacts: LocalArtifactStore) -> None:
    blob, _ = log_model(pipeline(), artifacts, signature=False)
    loaded = load_model_blob(artifacts, blob.digest)
    folder = loaded.path
    assert (folder / META_FILE).is_file()
    del loaded
    import gc

    gc.collect()
    assert not folder.exists()


def test_save_and_load_a_folder(tmp_path: Path) -> None:
    x, _ = training()
    meta = save_model(pipeline(), tmp_path / "bundle", input_example=x.head(10))
    assert (tmp_path / "bundle" / META_FILE).is_file()
    on_disk = ModelMeta.from_json((tmp_path / "bundle" / META_FILE).read_text())
    assert on_disk == meta
    loaded = load_model_dir(tmp_path / "bundle")
    assert loaded.predict(x.head(3)).shape == (3,)


def test_same_model_saved_twice_has_the_same_file_digests(tmp_path: Path) -> None:
    model = pipeline()
    first = save_model(model, tmp_path / "a", signature=False)
    second = save_model(model, tmp_path / "b", signature=False)
    assert first.files == second.files


def test_a_non_model_is_refused_with_what_a_model_needs(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"builtins.dict is not a model.*predict\(data\)"):
        save_model({"weights": [1, 2]}, tmp_path / "m")
    assert not (tmp_path / "m").exists()
    with pytest.raises(InvalidArgumentError, match="the sklearn flavor cannot save"):
        save_model(object(), tmp_path / "m", flavor="sklearn")


def test_saving_into_a_folder_that_holds_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "keep.txt").write_text("x")
    with pytest.raises(InvalidArgumentError, match="not an empty folder"):
        save_model(pipeline(), tmp_path / "m")


def test_predictions_given_or_computed_and_no_signature() -> None:
    x, y = training()
    reg = LinearRegression().fit(x[["temp", "cycles"]], y)
    meta = save_model(
        reg, Path("r1"), input_example=x[["temp", "cycles"]], predictions=pd.Series(y, name="label")
    )
    assert meta.signature is not None and meta.signature.outputs[0].name == "label"
    meta = save_model(reg, Path("r2"), input_example=x[["temp", "cycles"]])
    assert meta.signature is not None and meta.signature.outputs[0].type == "float"
    meta = save_model(reg, Path("r3"), input_example=x[["temp", "cycles"]], signature=False)
    assert meta.signature is None and meta.input_example is not None
    with pytest.raises(InvalidArgumentError, match="personal columns need a signature"):
        save_model(reg, Path("r4"), personal=["temp"])


def test_requirements_given_replace_the_pinned_ones(tmp_path: Path) -> None:
    meta = save_model(pipeline(), tmp_path / "m", requirements=["scikit-learn>=1.4", "shap==0.1"])
    assert "scikit-learn>=1.4" in meta.requirements and "shap==0.1" in meta.requirements
    assert not any(r.startswith("scikit-learn==") for r in meta.requirements)


# -- a bundle that was changed is refused before anything is unpickled


def _poison(path: Path) -> None:
    """Replace ``path`` with a pickle that would raise if it were ever loaded."""
    import pickle

    class Boom:
        def __reduce__(self) -> Any:
            return (_explode, ())

    path.chmod(0o644)
    path.write_bytes(pickle.dumps(Boom()))


def _explode() -> None:
    raise AssertionError("the tampered file was unpickled")


def test_a_modified_model_file_in_a_folder_is_refused(tmp_path: Path) -> None:
    save_model(pipeline(), tmp_path / "m")
    _poison(tmp_path / "m" / "model.joblib")
    with pytest.raises(IntegrityError, match=r"file 'model.joblib' does not match: its digest is .* lists"):
        load_model_dir(tmp_path / "m")


def test_a_modified_json_in_a_folder_is_refused(tmp_path: Path) -> None:
    save_model(pipeline(), tmp_path / "m")
    meta_path = tmp_path / "m" / META_FILE
    doc = json.loads(meta_path.read_text())
    doc["files"]["model.joblib"] = "0" * 64
    meta_path.write_text(json.dumps(doc))
    with pytest.raises(IntegrityError, match=r"'model\.joblib' does not match"):
        load_model_dir(tmp_path / "m")
    meta_path.write_text("{ not json")
    with pytest.raises(IntegrityError, match=f"file '{META_FILE}' does not match: it is not valid JSON"):
        load_model_dir(tmp_path / "m")
    doc.pop("files")
    meta_path.write_text(json.dumps(doc))
    with pytest.raises(IntegrityError, match=META_FILE):
        load_model_dir(tmp_path / "m")


def test_files_added_to_or_removed_from_a_folder_are_refused(tmp_path: Path) -> None:
    save_model(pipeline(), tmp_path / "m")
    (tmp_path / "m" / "extra.pkl").write_bytes(b"x")
    with pytest.raises(IntegrityError, match=r"'extra\.pkl' .* not listed"):
        load_model_dir(tmp_path / "m")
    (tmp_path / "m" / "extra.pkl").unlink()
    (tmp_path / "m" / "model.joblib").unlink()
    with pytest.raises(IntegrityError, match=r"'model\.joblib' .* missing"):
        load_model_dir(tmp_path / "m")


def test_a_modified_model_file_in_the_store_is_refused(artifacts: LocalArtifactStore) -> None:
    blob, meta = log_model(pipeline(), artifacts)
    stored = artifacts.local_path(meta.files["model.joblib"])
    assert stored is not None
    _poison(stored)
    with pytest.raises(IntegrityError, match=r"file 'model\.joblib' does not match"):
        load_model_blob(artifacts, blob.digest)


def test_a_modified_json_in_the_store_is_refused(artifacts: LocalArtifactStore) -> None:
    blob, _ = log_model(pipeline(), artifacts)
    entry = artifacts.read_manifest(blob.digest)[META_FILE]
    stored = artifacts.local_path(entry.digest)
    assert stored is not None
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes().replace(b'"sklearn"', b'"python"'))
    with pytest.raises(IntegrityError, match=f"file '{META_FILE}' does not match"):
        load_model_blob(artifacts, blob.digest)


def test_a_json_that_disagrees_with_the_store_manifest_is_refused(
    artifacts: LocalArtifactStore, tmp_path: Path
) -> None:
    """A bundle re-stored with a json whose digests were edited to match a swapped file."""
    save_model(pipeline(), tmp_path / "m")
    meta_path = tmp_path / "m" / META_FILE
    doc = json.loads(meta_path.read_text())
    doc["files"]["model.joblib"] = "f" * 64
    meta_path.write_text(json.dumps(doc))
    blob = artifacts.put_dir(tmp_path / "m")
    with pytest.raises(
        IntegrityError, match=r"'model\.joblib' does not match: loopml-model\.json lists digest ffff"
    ):
        load_model_blob(artifacts, blob.digest)


def test_a_folder_that_is_not_a_bundle(artifacts: LocalArtifactStore, tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "a.txt").write_text("a")
    with pytest.raises(InvalidArgumentError, match="not a model bundle"):
        load_model_dir(tmp_path / "plain")
    blob = artifacts.put_dir(tmp_path / "plain")
    with pytest.raises(InvalidArgumentError, match="not a model bundle"):
        load_model_blob(artifacts, blob.digest)


# -- predicting through the signature


def test_predict_enforces_the_signature(tmp_path: Path) -> None:
    x, _ = training()
    save_model(pipeline(), tmp_path / "m", input_example=x)
    loaded = load_model_dir(tmp_path / "m")
    with pytest.raises(SignatureError, match="column 'temp' is missing"):
        loaded.predict(x.drop(columns=["temp"]))
    with pytest.raises(SignatureError, match="column 'status' has unknown category 'broken'"):
        loaded.predict(x.assign(status="broken"))
    with pytest.raises(SignatureError, match="column 'temp' should be float but holds string"):
        loaded.predict(x.assign(temp="hot"))
    rows = [{"temp": 51, "cycles": 3, "status": "ok", "email": "a@b.c", "note": "extra"}]
    assert loaded.predict(rows).shape == (1,)  # int -> float, text -> category, extra column ignored
    frame, notes = loaded.validate(rows)
    assert frame["temp"].dtype == np.float64 and notes == ["column(s) 'note' not in the signature: ignored"]
    assert loaded.predict(frame, validate=False).shape == (1,)


def test_array_models_get_arrays(tmp_path: Path) -> None:
    x, y = training()
    values = x[["temp", "cycles"]].to_numpy()
    model = RandomForestClassifier(n_estimators=5, random_state=0).fit(values, y)
    meta = save_model(model, tmp_path / "m", input_example=values)
    assert meta.signature is not None and meta.signature.input_format == "ndarray"
    loaded = load_model_dir(tmp_path / "m")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X has feature names" from scikit-learn
        np.testing.assert_array_equal(loaded.predict(values), model.predict(values))
        assert loaded.predict([{"0": 50.0, "1": 3}]).shape == (1,)


def test_predict_proba_of_a_regressor_is_a_clear_error(tmp_path: Path) -> None:
    x, y = training()
    save_model(LinearRegression().fit(x[["temp"]], y), tmp_path / "m")
    loaded = load_model_dir(tmp_path / "m")
    assert not loaded.has_proba
    with pytest.raises(UnsupportedOperationError, match="has no predict_proba; use predict"):
        loaded.predict_proba(x[["temp"]])
    with pytest.raises(AttributeError):
        loaded.predict_proba(x[["temp"]])


# -- environment


def test_other_library_versions_warn_naming_each(tmp_path: Path) -> None:
    save_model(pipeline(), tmp_path / "m")
    meta_path = tmp_path / "m" / META_FILE
    doc = json.loads(meta_path.read_text())
    doc["environment"]["scikit-learn"] = "1.0.0"
    doc["environment"]["python"] = "3.9.1"
    doc["environment"]["somelib"] = "2.0"
    meta_path.write_text(json.dumps(doc))
    with pytest.warns(ModelEnvironmentWarning) as record:
        loaded = load_model_dir(tmp_path / "m")
    import sklearn

    diffs = loaded.environment_differences()
    assert f"scikit-learn {sklearn.__version__} here, 1.0.0 in the bundle" in diffs
    assert any(d.startswith("Python ") and d.endswith(", 3.9.1 in the bundle") for d in diffs)
    assert "somelib not installed here, 2.0 in the bundle" in diffs
    message = str(record[0].message)
    assert all(d in message for d in diffs)


def test_the_same_environment_does_not_warn(tmp_path: Path) -> None:
    save_model(pipeline(), tmp_path / "m")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = load_model_dir(tmp_path / "m")
    assert loaded.environment_differences() == []


def test_meta_json_round_trip_and_newer_formats(tmp_path: Path) -> None:
    x, _ = training()
    meta = save_model(pipeline(), tmp_path / "m", input_example=x)
    assert ModelMeta.from_json(meta.to_json()) == meta
    assert isinstance(meta.signature, Signature)
    doc = meta.to_dict() | {"format": "loopml.model/2"}
    with pytest.raises(InvalidArgumentError, match="upgrade loopml"):
        ModelMeta.from_dict(doc)


def test_importing_models_loads_no_heavy_library() -> None:
    code = (
        "import sys, loopml.models as m; m.save_model; m.Signature; m.flavors; "
        "print(sorted(x for x in ('pandas', 'sklearn', 'joblib', 'numpy') if x in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_layer_exports_what_it_lists() -> None:
    import loopml.models

    assert sorted(loopml.models.__all__) == loopml.models.__all__
    for name in loopml.models.__all__:
        assert getattr(loopml.models, name) is not None, name
