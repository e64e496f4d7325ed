"""Registering, aliasing, loading, evaluating, gating, cards, export and history, on real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

import loopml as lm
from loopml.errors import ConfigError, IntegrityError, InvalidArgumentError, NotFoundError
from loopml.tracking import get_client


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    x, y = make_classification(n_samples=1200, n_features=6, n_informative=4, random_state=3)
    frame = pd.DataFrame(x, columns=[f"f{i}" for i in range(6)])
    frame["site"] = np.where(frame.index % 3 == 0, "north", "south")
    frame["label"] = y
    return frame.iloc[:900], frame.iloc[900:]


def _fit(model: object, train: pd.DataFrame) -> object:
    return model.fit(train.drop(columns=["label", "site"]), train["label"])  # type: ignore[attr-defined]


def test_register_alias_load_and_predict(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = frames
    features = train.drop(columns=["label", "site"])
    data = lm.data.add("train", train)
    with lm.start_run(experiment="reg") as run:
        model = _fit(LogisticRegression(max_iter=500), train)
        v1 = lm.register_model("clf", model, input_example=features.head(3), data=data, reason="first")
    assert (v1.name, v1.version, v1.source_run_id, v1.flavor) == ("clf", 1, run.id, "sklearn")
    assert v1.datasets == (data.id,)
    same = lm.register_model("clf", model, input_example=features.head(3), data=data)
    assert same.id == v1.id  # the same bundle is the same version
    lm.set_alias("clf", "champion", 1, reason="only one")
    loaded = lm.load_model("clf@champion")
    expected = model.predict(test.drop(columns=["label", "site"]))  # type: ignore[attr-defined]
    assert list(loaded.predict(test.drop(columns=["label"]))) == list(expected)  # extra columns ignored
    assert lm.get_model_version("clf").version == 1 and lm.get_model_version("clf:1").aliases == ("champion",)
    with pytest.raises(NotFoundError, match="has no alias 'staging'"):
        lm.load_model("clf@staging")
    with pytest.raises(NotFoundError, match="has no version 7"):
        lm.load_model("clf:7")
    with pytest.raises(InvalidArgumentError, match="always means the newest version"):
        lm.set_alias("clf", "latest", 1)
    with pytest.raises(InvalidArgumentError, match="must be a number from 1"):
        lm.get_model_version("clf:x")


def test_a_non_model_and_an_unknown_run_are_refused_before_anything_is_stored() -> None:
    with pytest.raises(InvalidArgumentError):
        lm.register_model("clf", {"weights": [1, 2]})
    with pytest.raises(NotFoundError):
        lm.register_model("clf", LogisticRegression(), run="0" * 32)
    assert get_client().store.models.list_models() == []


def test_a_tampered_bundle_is_refused_on_load(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, _ = frames
    version = lm.register_model("clf", _fit(LogisticRegression(max_iter=500), train))
    artifacts = get_client().artifacts
    manifest = artifacts.read_manifest(version.bundle_digest)
    entry = next(e for name, e in manifest.items() if name != "loopml-model.json")
    path = artifacts.local_path(entry.digest)
    assert path is not None
    path.chmod(0o644)
    path.write_bytes(path.read_bytes()[:-8] + b"tampered")
    with pytest.raises(IntegrityError):
        lm.load_model("clf:1")


def test_evaluate_gate_promote_and_the_history(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = frames
    lm.data.add("holdout", test)
    weak = lm.register_model("clf", _fit(DecisionTreeClassifier(max_depth=1, random_state=0), train))
    first = lm.gate(
        weak,
        "clf@champion",
        "holdout@latest",
        ["f1 >= baseline - 0.01", "accuracy >= 0.5"],
        target="label",
        promote="champion",
        reason="first model",
    )
    assert first.passed and first.baseline is None and first.promoted_to == "champion"
    strong = lm.register_model("clf", _fit(RandomForestClassifier(50, random_state=0), train))
    second = lm.gate(
        strong,
        "clf@champion",
        "holdout@latest",
        ["f1 >= baseline - 0.01", "latency.p95_ms <= 5000", "max_slice_drop(f1, site) <= 0.2"],
        target="label",
        promote="champion",
    )
    assert second.passed and second.baseline is not None and second.baseline.version == 1
    assert lm.get_model_version("clf@champion").version == 2
    third = lm.gate(
        weak, "clf@champion", "holdout@latest", ["f1 >= baseline"], target="label", promote="champion"
    )
    assert (
        not third.passed and lm.get_model_version("clf@champion").version == 2
    )  # a failed gate moves nothing
    assert "fail" in third.decision.results[0].reason
    stored = get_client().store.models
    evaluations = stored.evaluations(
        strong.id
    )  # as the candidate of the second gate, the baseline of the third
    assert [e.dataset_version_id for e in evaluations] == [lm.data.get("holdout").id] * 2
    assert "site" in evaluations[0].evaluation["slices"] and lm.get_model_version("clf:2").metrics["f1"] > 0.5
    actions = [e.action for e in lm.registry.model_history("clf")]
    assert actions == [
        "model.register",
        "gate.decide",
        "alias.set",
        "model.register",
        "gate.decide",
        "alias.set",
        "gate.decide",
    ]
    with pytest.raises(InvalidArgumentError):
        lm.gate(strong, None, "holdout@latest", ["f1 >== 3"], target="label")


def test_the_card_tells_what_the_registry_knows(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    train, test = frames
    data = lm.data.add("train", train)
    lm.data.add("holdout", test)
    with lm.start_run(experiment="reg"):
        version = lm.register_model("clf", _fit(LogisticRegression(max_iter=500), train), data=data)
    lm.gate(
        version, "clf@champion", "holdout", ["f1 >= 0.5"], target="label", slices=["site"], promote="champion"
    )
    card = lm.registry.model_card("clf:1", fields={"intended_use": "Ranking machines for inspection."})
    assert card.startswith("# Model card: clf:1")
    assert "`train:1`: 900 rows" in card and "Per slice of `site`" in card
    assert "✓ f1" in card and "`champion` set by" in card
    assert "Ranking machines for inspection." in card and "_To fill in:" in card  # limitations not given


def test_export_writes_a_bundle_requirements_and_a_dockerfile(
    frames: tuple[pd.DataFrame, pd.DataFrame], tmp_path: Path
) -> None:
    train, _ = frames
    lm.register_model("clf", _fit(LogisticRegression(max_iter=500), train))
    out = lm.registry.export_model("clf:1", tmp_path / "image")
    assert (out / "model" / "loopml-model.json").is_file()
    requirements = (out / "requirements.txt").read_text().splitlines()
    assert requirements[0].startswith("loopml==") and any(
        r.startswith("scikit-learn==") for r in requirements
    )
    dockerfile = (out / "Dockerfile").read_text()
    assert "USER loopml" in dockerfile and "HEALTHCHECK" in dockerfile and "-slim" in dockerfile
    assert dockerfile.index("pip install") < dockerfile.index("COPY --chown=loopml:loopml model/")
    with pytest.raises(InvalidArgumentError, match="is not empty"):
        lm.registry.export_model("clf:1", out)
    if lm.registry.docker_available() is not None:
        with pytest.raises(ConfigError, match="Cannot build the image"):
            lm.registry.build_docker(out, "clf:1")


def test_a_loaded_version_enforces_its_signature(frames: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    from loopml.errors import SignatureError

    train, test = frames
    features = train.drop(columns=["label", "site"])
    lm.register_model("clf", _fit(LogisticRegression(max_iter=500), train), input_example=features.head(20))
    model = lm.load_model("clf")
    with pytest.raises(SignatureError, match="f2"):
        model.predict(test.drop(columns=["label", "f2"]))
    with pytest.raises(SignatureError, match="f0"):
        model.predict(test.assign(f0="warm"))
    as_ints = test.drop(columns=["label"]).assign(f1=test["f1"].round().astype(int))
    assert len(model.predict(as_ints)) == len(test)  # int -> float is a safe coercion
