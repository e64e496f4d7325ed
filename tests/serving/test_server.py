"""The model server: V2 and MLflow protocols, client mistakes as 4xx, batching, metrics, OpenAPI, HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import loopml as lm
from loopml.serving import ModelServer, ServedModel, ServerOptions

from ._http import Ticks, serving
from ._http import asgi_client as _asgi

COLUMNS = [f"f{i}" for i in range(5)]

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def registered() -> tuple[pd.DataFrame, Any]:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(400, 5)), columns=COLUMNS)
    y = (x["f0"] + x["f1"] > 0).astype(int)
    model = RandomForestClassifier(10, max_depth=4, random_state=0).fit(x, y)
    version = lm.register_model("rf", model, input_example=x.head(20))
    lm.set_alias("rf", "champion", version.version)
    return x, model


@pytest.fixture(params=[True, False], ids=["batching", "no-batching"])
async def client(request: pytest.FixtureRequest, registered: Any) -> AsyncIterator[httpx.AsyncClient]:
    server = ModelServer(ServedModel.load("rf@champion"), ServerOptions(batching=request.param))
    async with _asgi(server) as c:
        yield c


def _rows(x: pd.DataFrame, n: int = 3) -> list[list[float]]:
    return x.head(n).to_numpy().tolist()  # type: ignore[no-any-return]


async def test_health_metadata_and_openapi(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v2/health/live")).json() == {"live": True}
    assert (await client.get("/v2/health/ready")).status_code == 200
    assert (await client.get("/ping")).status_code == 200 and (await client.get("/health")).status_code == 200
    meta = (await client.get("/v2/models/rf")).json()
    assert (
        meta["name"] == "rf" and meta["versions"] == ["1"] and [i["name"] for i in meta["inputs"]] == COLUMNS
    )
    assert (await client.get("/v2/models/rf/ready")).json() == {"name": "rf", "ready": True}
    assert (await client.get("/v2/models/other")).status_code == 404
    doc = (await client.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.") and "/v2/models/{name}/infer" in doc["paths"]
    assert (await client.get("/v2")).json()["name"] == "loopml"


async def test_every_mlflow_format_and_v2_give_the_models_predictions(
    client: httpx.AsyncClient, registered: tuple[pd.DataFrame, Any]
) -> None:
    x, model = registered
    expected = model.predict(x.head(3)).tolist()
    rows = _rows(x)
    records = x.head(3).to_dict(orient="records")
    bodies = [
        {"dataframe_split": {"columns": COLUMNS, "data": rows}},
        {"dataframe_records": records},
        {"instances": records},
        {"instances": rows},
        {"inputs": {c: x[c].head(3).tolist() for c in COLUMNS}},
    ]
    for body in bodies:
        response = await client.post("/invocations", json=body)
        assert response.status_code == 200, (body, response.text)
        assert response.json() == {"predictions": expected}
        assert len(response.headers["x-request-id"]) == 32
        timing = response.headers["server-timing"]  # the predict call's time, for clients and dashboards
        assert timing.startswith("predict;dur=") and 0 < float(timing.split("=")[1]) < 60_000
    csv = x.head(3).to_csv(index=False)
    response = await client.post("/invocations", content=csv, headers={"content-type": "text/csv"})
    assert response.json() == {"predictions": expected}
    per_column = {
        "id": "req-1",
        "inputs": [
            {"name": c, "shape": [3], "datatype": "FP64", "data": x[c].head(3).tolist()} for c in COLUMNS
        ],
    }
    v2 = (await client.post("/v2/models/rf/infer", json=per_column)).json()
    assert v2["id"] == "req-1" and v2["model_name"] == "rf" and v2["model_version"] == "1"
    assert v2["outputs"][0]["data"] == expected and v2["outputs"][0]["shape"] == [3]
    tensor = {"inputs": [{"name": "input", "shape": [3, 5], "datatype": "FP64", "data": rows}]}
    response = await client.post("/v2/models/rf/infer", json=tensor, headers={"x-request-id": "mine"})
    assert response.json()["outputs"][0]["data"] == expected and response.json()["id"] == "mine"
    assert response.headers["x-request-id"] == "mine"


async def test_numeric_requests_take_the_array_path_with_the_same_answers(
    client: httpx.AsyncClient, registered: tuple[pd.DataFrame, Any]
) -> None:
    """An all-float model gets plain numeric requests as one array, skipping the DataFrame; every shape
    that path declines (reordered columns, a flat V2 tensor, whole numbers) must give the same answer."""
    x, model = registered
    expected = model.predict(x.head(3)).tolist()
    rows = _rows(x)
    reordered = list(reversed(COLUMNS))
    flat = [v for row in rows for v in row]
    bodies = [
        ("/invocations", {"dataframe_split": {"columns": COLUMNS, "data": rows}}, "predictions"),
        ("/invocations", {"dataframe_split": {"data": rows}}, "predictions"),
        (
            "/invocations",
            {"dataframe_split": {"columns": reordered, "data": [r[::-1] for r in rows]}},
            "predictions",
        ),
        ("/invocations", {"inputs": rows}, "predictions"),
        (
            "/v2/models/rf/infer",
            {"inputs": [{"name": "x", "shape": [3, 5], "datatype": "FP64", "data": flat}]},
            "v2",
        ),
        (
            "/v2/models/rf/infer",
            {"inputs": [{"name": "x", "shape": [3, 5], "datatype": "FP32", "data": rows}]},
            "v2",
        ),
    ]
    for path, body, kind in bodies:
        response = await client.post(path, json=body)
        assert response.status_code == 200, (body, response.text)
        got = response.json()
        assert (got["predictions"] if kind == "predictions" else got["outputs"][0]["data"]) == expected, body
    whole = [[round(v) for v in row] for row in rows]
    response = await client.post("/invocations", json={"instances": whole})
    assert (
        response.json()["predictions"]
        == model.predict(pd.DataFrame(whole, columns=COLUMNS, dtype=float)).tolist()
    )


@pytest.mark.parametrize(
    ("path", "body", "content_type", "status", "needle"),
    [
        ("/invocations", b"{nope", "application/json", 400, "not valid JSON"),
        ("/invocations", b"", "application/json", 400, "empty"),
        (
            "/invocations",
            b'{"dataframe_split": {"columns": ["f0"], "data": [[1]]}}',
            "application/json",
            422,
            "f1",
        ),
        (
            "/invocations",
            b'{"dataframe_records": [{"f0": "warm", "f1": 1, "f2": 1, "f3": 1, "f4": 1}]}',
            "application/json",
            422,
            "f0",
        ),
        ("/invocations", b'{"instances": [[1, 2]]}', "application/json", 422, "5 values"),
        ("/invocations", b'{"instances": [[true, 1, 2, 3, 4]]}', "application/json", 422, "f0"),
        (
            "/invocations",
            b'{"dataframe_split": {"columns": ["f0", "f0", "f1", "f2", "f3", "f4"], '
            b'"data": [[1, 1, 2, 3, 4, 5]]}}',
            "application/json",
            422,
            "more than once",
        ),
        (
            "/v2/models/rf/infer",
            b'{"inputs": [{"name": "x", "shape": [100000000000, 0], "datatype": "FP64", "data": []}]}',
            "application/json",
            400,
            "holds no values",
        ),
        (
            "/invocations",
            b'{"dataframe_records": [' + b", ".join(b'{"k%d": 1}' % i for i in range(2000)) + b"]}",
            "application/json",
            422,
            "different columns",
        ),
        ("/invocations", b'{"instances": [[1, 2, 3, 4, "5"]]}', "application/json", 422, "f4"),
        ("/invocations", b'{"instances": [], "inputs": []}', "application/json", 400, "exactly one"),
        ("/invocations", b'{"dataframe_records": []}', "application/json", 400, "no rows"),
        ("/invocations", b"[1, 2]", "application/json", 400, "JSON object"),
        ("/invocations", b"a=1", "application/x-www-form-urlencoded", 415, "application/json"),
        (
            "/v2/models/rf/infer",
            b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1]}]}',
            "application/json",
            400,
            "holds 2 values",
        ),
        (
            "/v2/models/rf/infer",
            b'{"inputs": [{"name": "x", "shape": [1], "datatype": "WEIRD", "data": [1]}]}',
            "application/json",
            400,
            "unknown datatype",
        ),
        ("/v2/models/rf/infer", b'{"inputs": "x"}', "application/json", 400, "inputs"),
        ("/v2/models/rf/infer", b"{}", "text/plain", 415, "application/json"),
        (
            "/v2/models/rf/infer",
            b'{"inputs": [{"name": "input", "shape": [1, 5], "datatype": "FP64", '
            b'"data": [1, 2, 3, 4, null]}]}',
            "application/json",
            422,
            "f4",
        ),
    ],
)
async def test_client_mistakes_are_4xx_with_a_reason(
    client: httpx.AsyncClient, path: str, body: bytes, content_type: str, status: int, needle: str
) -> None:
    response = await client.post(path, content=body, headers={"content-type": content_type})
    assert response.status_code == status, response.text
    assert needle in response.json()["error"]
    assert (await client.get("/v2/health/ready")).status_code == 200  # and it keeps serving


async def test_an_oversized_body_is_413(registered: Any) -> None:
    server = ModelServer(ServedModel.load("rf@champion"), ServerOptions(max_body=1000))
    async with _asgi(server) as c:
        big = {"dataframe_split": {"columns": COLUMNS, "data": [[0.5] * 5] * 200}}
        response = await c.post("/invocations", json=big)
    assert response.status_code == 413 and "larger than 1000 bytes" in response.json()["error"]


async def test_concurrent_requests_are_batched_and_answered_each_with_its_own(
    registered: tuple[pd.DataFrame, Any],
) -> None:
    x, model = registered
    server = ModelServer(ServedModel.load("rf@champion"), ServerOptions(max_batch=32, max_wait_ms=20))
    async with _asgi(server) as c:
        bodies = [{"dataframe_split": {"columns": COLUMNS, "data": _rows(x.iloc[i:], 1)}} for i in range(40)]
        bad = {"dataframe_split": {"columns": COLUMNS, "data": [[float("nan")] * 5]}}
        responses = await asyncio.gather(
            *(c.post("/invocations", json=b) for b in bodies),
            c.post("/invocations", content=_nan_body(bad), headers={"content-type": "application/json"}),
        )
    assert [r.json()["predictions"][0] for r in responses[:40]] == model.predict(x.head(40)).tolist()
    assert responses[40].status_code == 400  # NaN is not JSON: refused before it reaches a batch
    exposition = server.metrics.exposition()[0].decode()
    count = _metric(exposition, "loopml_batch_size_rows_count")
    rows = _metric(exposition, "loopml_batch_size_rows_sum")
    assert rows >= 40 and count < rows  # some predict calls took several requests
    assert _metric(exposition, "loopml_predict_duration_seconds_count") == count  # one per predict call
    assert (
        _metric(exposition, 'loopml_requests_total{protocol="invocations",route="champion",status="200"}')
        == 40
    )


def _nan_body(body: dict[str, Any]) -> bytes:
    import json

    return json.dumps(body).encode()  # NaN as the JSON extension most clients send


def _metric(exposition: str, name: str) -> float:
    for line in exposition.splitlines():
        if line.startswith(name + " ") or (line.startswith(name + "{") and line.split(" ")[0] == name):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in the exposition")


@pytest.fixture
def served_process(registered: Any, loopml_home: Any) -> Iterator[str]:
    with serving("rf@champion") as served:
        yield served.url


def test_loopml_serve_answers_over_real_http(
    served_process: str, registered: tuple[pd.DataFrame, Any]
) -> None:
    x, model = registered
    body = {"dataframe_split": {"columns": COLUMNS, "data": _rows(x, 5)}}
    response = httpx.post(served_process + "/invocations", json=body, timeout=10)
    assert response.status_code == 200 and response.json()["predictions"] == model.predict(x.head(5)).tolist()
    metrics = httpx.get(served_process + "/metrics", timeout=10).text
    assert 'loopml_model_version_info{model="rf",route="champion",version="1"} 1.0' in metrics


def test_two_worker_processes_answer_and_every_answer_is_logged_once(
    registered: tuple[pd.DataFrame, Any],
) -> None:
    from loopml.monitoring import read_predictions
    from loopml.tracking import get_client

    x, model = registered
    expected = model.predict(x.head(40)).tolist()
    answered = []
    with (
        serving("rf@champion", args=("--workers", "2", "--log-level", "info")) as served,
        httpx.Client(base_url=served.url, timeout=10) as http,
    ):
        for i in range(40):  # a new connection each time, so both workers get some
            response = httpx.post(
                served.url + "/invocations",
                json={"instances": _rows(x.iloc[i:], 1)},
                headers={"connection": "close"},
                timeout=10,
            )
            assert response.json()["predictions"] == [expected[i]]
            answered.append(response.headers["x-request-id"])
        assert http.get("/v2/health/ready").status_code == 200
    pids = {
        line.split("[")[1].split("]")[0]
        for line in served.output.splitlines()
        if "Started server process" in line
    }
    client = get_client()
    logged = read_predictions(client.store, client.artifacts, "rf")
    assert sorted(logged["request_id"]) == sorted(answered)  # each worker closed its log on shutdown
    assert len(pids) == 2, served.output  # two worker processes served


def test_serving_an_unknown_model_is_one_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "loopml", "serve", "nope@champion"], capture_output=True, text=True, timeout=60
    )
    assert (
        out.returncode == 1
        and "No registered model named 'nope'" in out.stderr
        and "Traceback" not in out.stderr
    )


async def test_a_request_that_breaks_a_batch_fails_alone() -> None:
    from loopml.serving import Batcher

    def predict(frame: pd.DataFrame) -> Any:
        if (frame["v"] < 0).any():
            raise ValueError("negative values")
        return frame["v"].to_numpy() * 2

    batcher = Batcher(predict, max_batch=16, max_wait=0.05)
    await batcher.start()
    batcher.pending = 6
    try:
        results = await asyncio.gather(
            *(batcher.submit(pd.DataFrame({"v": [float(i)]})) for i in (1, 2, -1, 3, 4, 5)),
            return_exceptions=True,
        )
    finally:
        await batcher.stop()
    assert [r.tolist() if not isinstance(r, Exception) else "error" for r in results] == [
        [2.0],
        [4.0],
        "error",
        [6.0],
        [8.0],
        [10.0],
    ]


async def test_a_lone_request_to_a_fast_model_is_predicted_on_the_event_loop() -> None:
    """Alone, a request skips the hop to the model thread; together, requests still share a batch; and a
    model that proves slow is kept off the event loop."""
    import threading

    from loopml.serving import Batcher

    calls: list[tuple[str, int]] = []
    delay = 0.0

    def predict(frame: pd.DataFrame) -> Any:
        calls.append((threading.current_thread().name, len(frame)))
        if delay:
            threading.Event().wait(delay)
        return frame["v"].to_numpy()

    batcher = Batcher(predict, max_batch=16, max_wait=0.05, inline_below=0.01)
    await batcher.start()
    loop_thread = threading.current_thread().name
    try:
        batcher.pending = 1
        for _ in range(2):  # unmeasured, a model runs on its thread; once seen to be fast, on the loop
            assert (await batcher.submit(pd.DataFrame({"v": [1.0]}))).tolist() == [1.0]
        assert calls[0][0] != loop_thread and calls[1] == (loop_thread, 1)

        calls.clear()
        batcher.pending = 4
        await asyncio.gather(*(batcher.submit(pd.DataFrame({"v": [float(i)]})) for i in range(4)))
        assert all(name != loop_thread for name, _ in calls) and sum(n for _, n in calls) == 4
        assert len(calls) < 4  # merged

        calls.clear()
        delay = 0.03  # slower than inline_below: once seen, the model stays on its thread
        batcher.pending = 1
        for _ in range(4):  # the average of call times catches up within a few calls
            await batcher.submit(pd.DataFrame({"v": [1.0]}))
        assert batcher.call_seconds >= 0.01
        assert calls[-1][0] != loop_thread
    finally:
        await batcher.stop()


async def test_values_a_typed_signature_cannot_take_are_422() -> None:
    """Whole numbers out of int64's range (or infinite), and lists where a category belongs."""
    rng = np.random.default_rng(0)
    x = pd.DataFrame({"age": rng.integers(18, 90, 200), "plan": pd.Categorical(rng.choice(["a", "b"], 200))})
    model = make_pipeline(
        ColumnTransformer([("plan", OneHotEncoder(), ["plan"])], remainder="passthrough"),
        RandomForestClassifier(5, random_state=0),
    ).fit(x, rng.integers(0, 2, 200))
    lm.register_model("typed", model, input_example=x.head(20))
    async with _asgi(ModelServer(ServedModel.load("typed:1"))) as c:
        for record, column in (
            ({"age": 1e300, "plan": "a"}, "age"),
            ({"age": 30, "plan": ["a"]}, "plan"),
            ({"age": 30, "plan": {"x": 1}}, "plan"),
        ):
            response = await c.post("/invocations", json={"dataframe_records": [record]})
            assert response.status_code == 422, (record, response.text)
            assert column in response.json()["error"]
        csv = await c.post("/invocations", content="age,plan\ninf,a\n", headers={"content-type": "text/csv"})
        assert csv.status_code == 422 and "age" in csv.json()["error"]
        ok = await c.post("/invocations", json={"dataframe_records": [{"age": 30, "plan": "a"}]})
        assert ok.status_code == 200


async def test_routes_ids_and_personal_columns_across_versions(registered: tuple[pd.DataFrame, Any]) -> None:
    """A canary with more personal columns is hashed in the log too; a canary of another model is refused;
    a V2 request's id is its id in the log; /versions/V/infer is answered by V; with several workers the
    routes cannot change while serving."""
    from loopml.monitoring import read_predictions
    from loopml.tracking import get_client

    x, _ = registered
    y = (x["f2"] > 0).astype(int)
    lm.register_model(
        "rf", RandomForestClassifier(5, random_state=1).fit(x, y), input_example=x.head(20), personal=["f0"]
    )
    lm.register_model("other", RandomForestClassifier(5, random_state=1).fit(x, y), input_example=x.head(20))
    server = ModelServer(ServedModel.load("rf:1"), ServerOptions(reload_interval=0))
    async with _asgi(server) as c:
        other = await c.put("/admin/routes", json={"canary": {"ref": "other:1", "percent": 50}})
        assert other.status_code == 422 and "serves 'rf'" in other.json()["error"]
        routes = await c.put("/admin/routes", json={"canary": {"ref": "rf:2", "percent": 100}})
        assert routes.status_code == 200
        row = _rows(x, 1)
        tensor = {
            "id": "mine-1",
            "inputs": [{"name": "input", "shape": [1, 5], "datatype": "FP64", "data": row}],
        }
        answer = await c.post("/v2/models/rf/infer", json=tensor)
        assert answer.json()["model_version"] == "2" and answer.headers["x-request-id"] == "mine-1"
        pinned = await c.post("/v2/models/rf/versions/1/infer", json={**tensor, "id": "mine-2"})
        assert pinned.json()["model_version"] == "1"
    client = get_client()
    log = read_predictions(client.store, client.artifacts, "rf").set_index("request_id")
    assert log.loc["mine-1", "model_version"] == 2 and log.loc["mine-2", "model_version"] == 1
    assert log.loc["mine-1", "input.f0"] != row[0][0] and isinstance(log.loc["mine-1", "input.f0"], str)
    assert log.loc["mine-1", "input.f1"] == row[0][1]  # not personal: as sent

    several = ModelServer(ServedModel.load("rf:1"), ServerOptions(workers=2, log_predictions=False))
    async with _asgi(several) as c:
        refused = await c.put("/admin/routes", json={"canary": {"ref": "rf:2", "percent": 10}})
        assert refused.status_code == 409 and "--workers 1" in refused.json()["error"]


def _second_version(x: pd.DataFrame) -> Any:
    y = (x["f2"] > 0).astype(int)  # a different model: it answers differently
    model = RandomForestClassifier(10, max_depth=4, random_state=1).fit(x, y)
    lm.register_model("rf", model, input_example=x.head(20))
    return model


async def test_an_alias_move_is_followed_without_a_failed_request(
    registered: tuple[pd.DataFrame, Any],
) -> None:
    x, first = registered
    second = _second_version(x)
    ticks = Ticks()
    server = ModelServer(
        ServedModel.load("rf@champion"), ServerOptions(reload_interval=0.05), sleep=ticks.sleep
    )
    body = {"dataframe_split": {"columns": COLUMNS, "data": _rows(x, 50)}}
    answers: list[list[int]] = []
    moved = asyncio.Event()
    async with _asgi(server) as c:

        async def traffic() -> None:
            after = 0  # requests sent once the swap is done
            while after < 10:
                done = moved.is_set()
                response = await c.post("/invocations", json=body)
                assert response.status_code == 200, response.text
                answers.append(response.json()["predictions"])
                after += 1 if done else 0
                await asyncio.sleep(0.005)

        async def move() -> None:
            await asyncio.sleep(0.05)
            await asyncio.to_thread(lm.set_alias, "rf", "champion", 2, reason="test")
            await ticks.tick()  # the watcher's next check, while requests keep coming
            assert ticks.intervals[0] == 0.05
            moved.set()

        await asyncio.gather(traffic(), traffic(), move())
        meta = (await c.get("/v2/models/rf")).json()
    assert meta["versions"] == ["2"] and server.served.version == 2
    expected = {tuple(first.predict(x.head(50)).tolist()), tuple(second.predict(x.head(50)).tolist())}
    assert {tuple(a) for a in answers} == expected  # every answer is one version's, never a failure
    assert tuple(answers[-1]) == tuple(second.predict(x.head(50)).tolist())
    info = server.metrics.exposition()[0].decode()
    assert 'loopml_model_version_info{model="rf",route="champion",version="2"} 1.0' in info
    assert 'version="1"' not in info.split("loopml_model_version_info{", 1)[1].split("\n# ", 1)[0]


async def test_canary_and_shadow_set_while_serving(registered: tuple[pd.DataFrame, Any]) -> None:
    x, _ = registered
    _second_version(x)
    server = ModelServer(ServedModel.load("rf:1"), ServerOptions(admin_token="s3cret"))
    auth = {"authorization": "Bearer s3cret"}
    async with _asgi(server) as c:
        assert (await c.put("/admin/routes", json={"canary": None})).status_code == 401
        bad = await c.put("/admin/routes", json={"canary": {"ref": "rf:2", "percent": 150}}, headers=auth)
        assert bad.status_code == 400 and "percent" in bad.json()["error"]
        missing = await c.put("/admin/routes", json={"shadow": {"ref": "rf:9"}}, headers=auth)
        assert missing.status_code == 404
        routes = await c.put(
            "/admin/routes",
            json={"canary": {"ref": "rf:2", "percent": 50}, "shadow": {"ref": "rf:2"}},
            headers=auth,
        )
        assert routes.json()["canary"]["version"] == 2 and routes.json()["shadow"]["version"] == 2
        info = server.metrics.exposition()[0].decode()
        for route, version in (("champion", 1), ("canary", 2), ("shadow", 2)):
            assert f'loopml_model_version_info{{model="rf",route="{route}",version="{version}"}} 1.0' in info
        unknown = await c.post("/v2/models/nope/infer", json={})
        assert unknown.status_code == 404
        assert 'loopml_requests_total{protocol="v2",route="none",status="404"} 1.0' in (
            server.metrics.exposition()[0].decode()
        )
        versions = []
        for i in range(60):
            body = {
                "inputs": [
                    {"name": "input", "shape": [1, 5], "datatype": "FP64", "data": _rows(x.iloc[i:], 1)}
                ]
            }
            versions.append((await c.post("/v2/models/rf/infer", json=body)).json()["model_version"])
        assert set(versions) == {"1", "2"}  # half and half, roughly
        await asyncio.sleep(0.1)  # the shadow's copies finish in the background
        exposition = server.metrics.exposition()[0].decode()
        assert (
            _metric(exposition, 'loopml_requests_total{protocol="shadow",route="shadow",status="200"}') == 60
        )
        await c.put("/admin/routes", json={"canary": None, "shadow": None}, headers=auth)
        assert (await c.get("/admin/routes", headers=auth)).json()["canary"] is None


async def test_a_canary_and_a_shadow_given_at_start(registered: tuple[pd.DataFrame, Any]) -> None:
    from loopml.serving._app import parse_canary

    x, _ = registered
    _second_version(x)
    options = ServerOptions(canary=parse_canary("rf:2=25"), shadow="rf:2")
    server = ModelServer(ServedModel.load("rf:1"), options)
    app = server.app()
    async with app.router.lifespan_context(app):
        assert server.routes()["canary"] == {"model": "rf", "version": 2, "ref": "rf:2", "percent": 25.0}
        assert server.routes()["shadow"]["version"] == 2
    for bad in ("rf:2", "rf:2=abc", "rf:2=101", "=5"):
        with pytest.raises(lm.errors.InvalidArgumentError, match="NAME:V=PERCENT"):
            parse_canary(bad)


async def test_every_answered_request_is_one_row_of_the_prediction_log(
    registered: tuple[pd.DataFrame, Any],
) -> None:
    from loopml.monitoring import join_labels, read_labels, read_predictions
    from loopml.tracking import get_client

    x, model = registered
    server = ModelServer(ServedModel.load("rf@champion"), ServerOptions(reload_interval=0))
    async with _asgi(server) as c:
        responses = await asyncio.gather(
            *(
                c.post(
                    "/invocations",
                    json={"dataframe_split": {"columns": COLUMNS, "data": _rows(x.iloc[i:], 1)}},
                )
                for i in range(30)
            ),
            c.post("/invocations", json={"dataframe_records": [{"f0": 1}]}),  # a 422: not an answer
        )
        ids = [r.headers["x-request-id"] for r in responses[:30]]
        labelled = await c.post("/v2/models/rf/labels", json={"labels": {ids[0]: 1, ids[1]: 0}})
        assert labelled.json() == {"accepted": 2}
        bad = await c.post("/labels", json={"labels": "yes"})
        assert bad.status_code == 400
    client = get_client()
    log = read_predictions(client.store, client.artifacts, "rf")
    assert sorted(log["request_id"]) == sorted(
        ids
    )  # exactly one row per answered request, after a clean close
    assert set(log["route"]) == {"champion"} and set(log["model_version"]) == {1}
    first = log.set_index("request_id").loc[ids[0]]
    assert first["output"] == model.predict(x.head(1))[0] and first["input.f0"] == pytest.approx(
        x["f0"].iloc[0]
    )
    joined = join_labels(log, read_labels(client.store, "rf"))
    assert joined.set_index("request_id").loc[ids[1], "label"] == 0


def test_numeric_rows_takes_plain_numbers_and_declines_the_rest() -> None:
    from loopml.serving._codec import numeric_rows

    names = ["a", "b"]
    taken = [
        ("mlflow", {"dataframe_split": {"columns": names, "data": [[1.5, 2], [3, 4.5]]}}),
        ("mlflow", {"instances": [[1.5, 2], [3, 4.5]]}),
        ("v2", {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1.5, 2, 3, 4.5]}]}),
    ]
    for protocol, body in taken:
        values = numeric_rows(body, protocol, names)
        assert values is not None and values.dtype == np.float64, body
        assert values.tolist() == [[1.5, 2.0], [3.0, 4.5]]
    declined = [
        ("mlflow", {"dataframe_split": {"columns": ["b", "a"], "data": [[1, 2]]}}),  # reordered
        ("mlflow", {"instances": [[True, 2]]}),  # a boolean is not a number here
        ("mlflow", {"instances": [[None, 2]]}),  # a missing value
        ("mlflow", {"instances": [["1", 2]]}),  # text
        ("mlflow", {"instances": [[1, 2], [3]]}),  # ragged
        ("mlflow", {"instances": [[1, 2, 3]]}),  # too wide
        ("mlflow", {"instances": [[2**70, 1]]}),  # too large for numpy
        ("mlflow", {"dataframe_records": [{"a": 1, "b": 2}]}),  # records go through the DataFrame
        ("mlflow", {"instances": []}),
        ("v2", {"inputs": [{"name": "a", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]}),  # a column
        ("v2", {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "BYTES", "data": [1, 2]}]}),
        ("v2", {"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2]}]}),  # short
    ]
    for protocol, body in declined:
        assert numeric_rows(body, protocol, names) is None, body


def test_an_exported_bundle_is_served_under_its_registered_name(
    registered: tuple[pd.DataFrame, Any], tmp_path: Any
) -> None:
    """The exported image serves its folder ``--as NAME:V``, so answers and the prediction log carry the
    registered identity rather than the folder's name."""
    from loopml.errors import InvalidArgumentError

    out = lm.registry.export_model("rf:1", tmp_path / "image")
    assert '"serve", "/srv/model", "--as", "rf:1"' in (out / "Dockerfile").read_text()
    served = ServedModel.load(str(out / "model"), "rf:1")
    assert (served.name, served.version, served.numeric) == ("rf", 1, True)
    assert (ServedModel.load(str(out / "model")).name, ServedModel.load(str(out / "model")).version) == (
        "model",
        0,
    )
    for bad in ("rf", "rf:one", ":1", "a b:1"):
        with pytest.raises(InvalidArgumentError):
            ServedModel.load(str(out / "model"), bad)
    with pytest.raises(InvalidArgumentError, match="bundle folder"):
        ServedModel.load("rf@champion", "rf:1")
