"""What the model server writes to the prediction log besides its answers: an error row for every failed
request, and a classifier's class probabilities, computed in the same predict call when that gives the same
answers. A real server in process, a real Store and blob store."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import FixedThresholdClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import loopml as lm
from loopml.monitoring import read_predictions, segment_profiles
from loopml.serving import ModelServer, ServedModel, ServerOptions, _proba
from loopml.tracking import get_client

from ._http import asgi_client

COLUMNS = [f"f{i}" for i in range(4)]

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def x() -> pd.DataFrame:
    return pd.DataFrame(np.random.default_rng(0).normal(size=(300, 4)), columns=COLUMNS)


def _register(name: str, model: Any, x: pd.DataFrame) -> None:
    lm.register_model(name, model, input_example=x.head(40))


def _body(x: pd.DataFrame, start: int, n: int = 1) -> dict[str, Any]:
    return {"dataframe_split": {"columns": COLUMNS, "data": x.iloc[start : start + n].to_numpy().tolist()}}


def _logged(name: str, errors: bool = False) -> pd.DataFrame:
    client = get_client()
    return read_predictions(client.store, client.artifacts, name, errors=errors)


async def _answers(c: httpx.AsyncClient, x: pd.DataFrame, n: int) -> list[Any]:
    """``n`` one-row requests sent at once (so batches form), their answers in order."""
    responses = await asyncio.gather(*(c.post("/invocations", json=_body(x, i)) for i in range(n)))
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    return [r.json()["predictions"][0] for r in responses]


class TestErrorRows:
    async def test_every_failed_request_is_an_error_row_and_stays_out_of_the_profiles(
        self, x: pd.DataFrame
    ) -> None:
        y = (x.f0 > 0).astype(int)
        _register("rf", RandomForestClassifier(5, max_depth=3, random_state=0).fit(x, y), x)
        server = ModelServer(ServedModel.load("rf:1"), ServerOptions(reload_interval=0, max_body=4000))
        async with asgi_client(server) as c:
            await _answers(c, x, 5)
            bad = [
                await c.post("/invocations", json={"dataframe_records": [{"f0": 1}]}),  # 422: columns missing
                await c.post("/invocations", content=b"{nope", headers={"content-type": "application/json"}),
                await c.post("/invocations", content=b"x", headers={"content-type": "text/plain"}),  # 415
                await c.post("/invocations", json=_body(x, 0, 200)),  # 413: larger than max_body
                await c.post("/v2/models/rf/infer", json={"inputs": []}),  # 400
            ]
        assert [r.status_code for r in bad] == [422, 400, 415, 413, 400]

        answered = _logged("rf")
        assert len(answered) == 5 and set(answered["status"]) == {200}  # predictions only, by default
        everything = _logged("rf", errors=True)
        errors = everything[everything.status != 200].set_index("request_id")
        ids = [r.headers["x-request-id"] for r in bad]
        assert sorted(errors.index) == sorted(ids)
        assert errors.loc[ids, "status"].tolist() == [422, 400, 415, 413, 400]
        assert (errors["latency_ms"] > 0).all() and errors["input.f0"].isna().all()
        assert errors["output"].isna().all() and set(errors["route"]) == {"champion"}
        assert set(errors["model_version"]) == {1}

        client = get_client()
        [segment] = client.store.predictions.segments("rf")
        assert segment.error_rows == 5
        [group] = segment_profiles(client.artifacts, segment)
        assert (group.rows, group.errors, group.profile.num_rows) == (5, 5, 5)  # drift never sees them
        assert group.profile["input.f0"].count == 5 and group.profile["latency_ms"].count == 5

    async def test_a_fault_of_the_model_is_a_500_row(self, x: pd.DataFrame) -> None:
        _register("flaky", _Flaky(), x)
        server = ModelServer(ServedModel.load("flaky:1"), ServerOptions(reload_interval=0, batching=False))
        body = {"dataframe_split": {"columns": COLUMNS, "data": [[999.0, 0.0, 0.0, 0.0]]}}
        async with asgi_client(server) as c:
            response = await c.post("/invocations", json=body, headers={"x-request-id": "mine"})
        assert response.status_code == 500
        [row] = _logged("flaky", errors=True).itertuples()
        assert (row.request_id, row.status) == ("mine", 500)


class _Flaky:
    """A model of one's own with a bug that one input finds."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if (frame["f0"] == 999).any():
            raise RuntimeError("the model's own bug")
        return np.zeros(len(frame))


class TestProbabilities:
    async def test_a_classifiers_probabilities_come_from_the_same_call(self, x: pd.DataFrame) -> None:
        y = np.where(x.f0 + x.f1 > 0, "yes", "no")
        model = RandomForestClassifier(10, max_depth=4, random_state=0).fit(x, y)
        _register("rf", model, x)
        server = ModelServer(ServedModel.load("rf:1"), ServerOptions(reload_interval=0, max_wait_ms=20))
        calls = _count_calls(server.served.model.raw)
        async with asgi_client(server) as c:
            assert server.served.proba_mode == "argmax" and server.served.classes == ("no", "yes")
            calls.clear()
            answers = await _answers(c, x, 30)
        assert answers == model.predict(x.head(30)).tolist()
        assert calls.count("predict") == 0 and calls.count("predict_proba") >= 1  # one call, not two

        logged = _logged("rf")
        assert list(logged.columns)[-3:] == ["output", "proba.no", "proba.yes"]
        rows = x.iloc[[list(x.f0).index(v) for v in logged["input.f0"]]]  # each logged row's request
        np.testing.assert_allclose(logged[["proba.no", "proba.yes"]].to_numpy(), model.predict_proba(rows))
        assert logged["output"].tolist() == model.predict(rows).tolist()

    async def test_a_regressor_logs_no_probabilities(self, x: pd.DataFrame) -> None:
        _register("reg", RandomForestRegressor(5, random_state=0).fit(x, x.f0), x)
        server = ModelServer(ServedModel.load("reg:1"), ServerOptions(reload_interval=0))
        async with asgi_client(server) as c:
            await _answers(c, x, 3)
        assert server.served.proba_mode is None
        assert not [c for c in _logged("reg").columns if c.startswith("proba.")]

    async def test_probability_logging_can_be_turned_off(self, x: pd.DataFrame) -> None:
        _register("rf", RandomForestClassifier(5, random_state=0).fit(x, x.f0 > 0), x)
        options = ServerOptions(reload_interval=0, log_probabilities=False)
        server = ModelServer(ServedModel.load("rf:1"), options)
        async with asgi_client(server) as c:
            await _answers(c, x, 3)
        assert server.served.proba_mode is None
        assert not [c for c in _logged("rf").columns if c.startswith("proba.")]

    @pytest.mark.parametrize(
        "estimator",
        [
            pytest.param(SGDClassifier(loss="modified_huber", random_state=0), id="sgd"),  # not on the list
            pytest.param(FixedThresholdClassifier(LogisticRegression(), threshold=0.8), id="threshold"),
        ],
    )
    async def test_a_predict_that_is_not_the_argmax_is_called_as_well(
        self, x: pd.DataFrame, estimator: Any
    ) -> None:
        y = (x.f0 + 0.5 * x.f1 > 0).astype(int)
        model = estimator.fit(x, y)
        _register("clf", model, x)
        server = ModelServer(ServedModel.load("clf:1"), ServerOptions(reload_interval=0))
        async with asgi_client(server) as c:
            answers = await _answers(c, x, 40)
        assert server.served.proba_mode == "both"
        assert answers == model.predict(x.head(40)).tolist()
        logged = _logged("clf")
        assert {"proba.0", "proba.1"} <= set(logged.columns) and logged["proba.1"].notna().all()

    def test_a_listed_estimator_that_disagrees_on_its_example_is_called_both_ways(
        self, x: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The start-up check: were the list wrong about an estimator, its example shows it."""
        monkeypatch.setattr(_proba, "ARGMAX_ESTIMATORS", {("sklearn", "FixedThresholdClassifier")})
        y = (x.f0 > 0).astype(int)
        _register("clf", FixedThresholdClassifier(LogisticRegression(), threshold=0.9).fit(x, y), x)
        served = ServedModel.load("clf:1")
        classes = _proba.classes_of(served.model)
        assert classes is not None and _proba.one_call(served.model.raw)
        assert _proba.plan(served.model, classes, x.head(40)) == "both"
        assert _proba.plan(served.model, classes, None) == "argmax"  # no example: the list decides

    def test_ties_are_answered_by_predict(self, x: pd.DataFrame) -> None:
        """Scikit-learn's binary gradient boosting says 1 at a raw score of 0, where argmax of (0.5, 0.5)
        says 0: a tied row is asked of predict."""
        y = (x.f0 > 0).astype(int)
        pipeline = make_pipeline(StandardScaler(), GradientBoostingClassifier(n_estimators=5)).fit(x, y)
        assert _proba.one_call(pipeline)  # a pipeline is judged by its last step

        class Loaded:
            raw = pipeline

            @staticmethod
            def predict(rows: Any, validate: bool = False) -> np.ndarray:
                return np.ones(len(rows), dtype=np.int64)

        proba = np.array([[0.5, 0.5], [0.9, 0.1], [0.5 + 1e-12, 0.5 - 1e-12]])
        labels = _proba.answers(Loaded, np.array([0, 1]), proba, x.head(3))
        assert labels.tolist() == [1, 0, 1]
        three = np.array([[0.2, 0.4, 0.4], [0.6, 0.3, 0.1]])
        assert _proba.answers(Loaded, np.array([0, 1, 2]), three, x.head(2)).tolist() == [1, 0]


def _count_calls(raw: Any) -> list[str]:
    """Record each predict and predict_proba call of ``raw`` (the loaded estimator)."""
    calls: list[str] = []
    for name in ("predict", "predict_proba"):
        method = getattr(raw, name)

        def wrapped(*args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return _method(*args, **kwargs)

        setattr(raw, name, wrapped)
    return calls
