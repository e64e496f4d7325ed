"""Servers that follow a Deployment kept in the Store: each server (and each worker) re-reads it every
reload interval and swaps the lanes whose version changed; ``PUT /admin/routes`` writes it; a canary can be
sticky on a request key. Real servers (in process, and ``loopml serve`` processes over real HTTP), a real
SQLite Store and blob store."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier

import loopml as lm
from loopml.monitoring import read_predictions
from loopml.serving import ModelServer, ServerOptions
from loopml.serving._routing import Sticky, pick_canary, sticky_point
from loopml.tracking import get_client

from ._http import Ticks, asgi_client, serving

COLUMNS = [f"f{i}" for i in range(5)]

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def x() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(400, 5)), columns=COLUMNS)
    frame["f0"] = rng.integers(0, 1000, size=400).astype(float)  # whole numbers: a customer id, say
    return frame


@pytest.fixture
def versions(x: pd.DataFrame) -> dict[int, Any]:
    """Three versions of "rf" that answer differently; @champion on 1, @challenger on 2."""
    models = {}
    for version, column in ((1, "f1"), (2, "f2"), (3, "f3")):
        y = (x[column] > 0).astype(int)
        model = RandomForestClassifier(10, max_depth=4, random_state=version).fit(x, y)
        lm.register_model("rf", model, input_example=x.head(20))
        models[version] = model
    lm.set_alias("rf", "champion", 1)
    lm.set_alias("rf", "challenger", 2)
    return models


def _create(name: str = "rf-prod", **routes: Any) -> Any:
    return get_client().store.deployments.create(
        name, model="rf", at_ms=1_000, actor="test", reason="first", **routes
    )


def _set(name: str = "rf-prod", reason: str = "test", **changes: Any) -> Any:
    return get_client().store.deployments.update(name, changes, at_ms=2_000, actor="test", reason=reason)


def _tensor(x: pd.DataFrame, i: int) -> dict[str, Any]:
    row = x.iloc[i].tolist()
    return {"inputs": [{"name": "input", "shape": [1, 5], "datatype": "FP64", "data": row}]}


async def _versions(c: httpx.AsyncClient, x: pd.DataFrame, n: int = 20, **kw: Any) -> list[str]:
    out = []
    for i in range(n):
        response = await c.post("/v2/models/rf/infer", json=_tensor(x, i), **kw)
        assert response.status_code == 200, response.text
        out.append(response.json()["model_version"])
    return out


def _logged() -> pd.DataFrame:
    client = get_client()
    return read_predictions(client.store, client.artifacts, "rf")


async def test_a_server_follows_its_deployment_route_by_route(x: pd.DataFrame, versions: Any) -> None:
    """Canary on, its percent, the champion's alias moving, a promotion: each picked up at the next check,
    only the lanes whose version changed swapped, and every logged row names the route and version that
    answered it."""
    _create()
    ticks = Ticks()
    server = ModelServer.follow("rf-prod", ServerOptions(reload_interval=5), sleep=ticks.sleep)
    assert server.served.version == 1 and server.served.ref == "rf@champion"
    async with asgi_client(server) as c:
        assert set(await _versions(c, x)) == {"1"}
        routes = (await c.get("/admin/routes")).json()
        assert routes["deployment"] == {"name": "rf-prod", "revision": 1} and routes["canary"] is None

        _set(canary="@challenger", canary_percent=100.0)
        await ticks.tick()
        assert ticks.intervals[0] == 5  # the watcher waits the reload interval between checks
        assert set(await _versions(c, x)) == {"2"}
        canary_lane, champion_lane = server.canary, server.champion
        canary = {"model": "rf", "version": 2, "ref": "rf@challenger", "percent": 100.0}
        assert server.routes()["canary"] == canary

        _set(canary_percent=50.0)
        await ticks.tick()
        assert server.canary is canary_lane and server.champion is champion_lane  # a percent swaps nothing
        assert server.canary_percent == 50.0 and server.routes()["deployment"]["revision"] == 3
        assert set(await _versions(c, x, 60)) == {"1", "2"}

        lm.set_alias("rf", "champion", 3)  # the deployment does not change; the alias it names does
        await ticks.tick()
        assert server.champion is not champion_lane and server.canary is canary_lane
        assert server.served.version == 3 and server.served.ref == "rf@champion"
        assert set(await _versions(c, x, 60)) == {"3", "2"}

        lm.set_alias("rf", "champion", 2)  # promotion: the canary's version becomes the champion
        _set(canary=None, canary_percent=0.0)
        await ticks.tick()
        assert server.canary is None and server.served.version == 2
        assert server.served.model is canary_lane.served.model  # taken over from the canary, not reloaded
        assert set(await _versions(c, x)) == {"2"}
        exposition = server.metrics.exposition()[0].decode()
    assert 'loopml_model_version_info{model="rf",route="champion",version="2"} 1.0' in exposition
    assert 'loopml_deployment_revision{deployment="rf-prod"} 4.0' in exposition
    assert "loopml_canary_percent 0.0" in exposition
    pairs = set(zip(_logged()["model_version"], _logged()["route"], strict=True))
    assert pairs == {(1, "champion"), (2, "canary"), (3, "champion"), (2, "champion")}


async def test_a_version_that_will_not_load_leaves_every_route_as_it_was(
    x: pd.DataFrame, versions: Any, loopml_home: Path
) -> None:
    """A canary whose bundle is damaged and a champion alias that names nothing: the server keeps serving
    what it served, counts each failure, and follows the deployment again once it can be served."""
    _create()
    server = ModelServer.follow("rf-prod", ServerOptions(reload_interval=0))
    client = get_client()
    damaged = client.store.models.get_version("rf", 3)
    for rel, entry in client.artifacts.read_manifest(damaged.bundle_digest).items():
        if rel != "loopml-model.json":
            blob = loopml_home / "artifacts" / "objects" / entry.digest[:2] / entry.digest[2:]
            blob.chmod(0o644)
            blob.write_bytes(b"not a model")
    async with asgi_client(server) as c:
        _set(canary="3", canary_percent=50.0, shadow="@challenger")
        assert await server.reload() is False
        assert server.canary is None and server.shadow is None  # neither the canary nor the shadow
        assert "the canary, rf:3 (version 3), did not load" in (server.last_reload_error or "")
        assert set(await _versions(c, x)) == {"1"}

        lm.registry.delete_alias("rf", "champion")
        _set(canary="@challenger")
        assert await server.reload() is False  # the champion names nothing: keep serving version 1
        assert "names @champion as its champion" in (server.last_reload_error or "")
        assert server.served.version == 1 and server.canary is None

        lm.set_alias("rf", "champion", 1)
        assert await server.reload() is True
        assert server.routes()["canary"]["version"] == 2 and server.routes()["shadow"]["version"] == 2
        exposition = server.metrics.exposition()[0].decode()
    assert "loopml_model_reload_failures_total 2.0" in exposition


async def test_admin_routes_write_the_deployment_and_other_servers_follow(
    x: pd.DataFrame, versions: Any
) -> None:
    """Two servers on one Store (as two workers are): a PUT to one writes the deployment (actor admin-api,
    the body's reason) and serves it at once; the other serves it at its next check. Mistakes write
    nothing."""
    _create()
    ticks = Ticks()
    one = ModelServer.follow("rf-prod", ServerOptions(reload_interval=1, workers=2))
    other = ModelServer.follow("rf-prod", ServerOptions(reload_interval=1, workers=2), sleep=ticks.sleep)
    async with asgi_client(one) as a, asgi_client(other) as b:
        put = await a.put(
            "/admin/routes",
            json={"canary": {"ref": "rf@challenger", "percent": 100}, "reason": "try v2"},
        )
        assert put.status_code == 200, put.text
        assert put.json()["canary"]["ref"] == "rf@challenger" and put.json()["deployment"]["revision"] == 2
        assert set(await _versions(a, x)) == {"2"}  # at once, in the server that answered
        assert set(await _versions(b, x)) == {"1"}  # the other: at its next check
        await ticks.tick()
        assert set(await _versions(b, x)) == {"2"}

        for body, status, needle in (
            ({"canary": {"ref": "rf:9", "percent": 10}}, 404, "9"),
            ({"canary": {"ref": "other:2", "percent": 10}}, 422, "serves 'rf'"),
            ({"canary": {"percent": 0}}, 400, "above 0"),
            ({"shadow": {"ref": "@nope"}}, 404, "nope"),
            ({"sticky": "cookie:x"}, 422, "header:<name>"),
            ({"sticky": "column:nope"}, 422, "not an input"),
            ({"champion": None}, 400, "champion"),
            ({"canary": None, "oops": 1}, 400, "oops"),
            ([1], 400, "JSON object"),
        ):
            response = await a.put("/admin/routes", json=body)
            assert response.status_code == status, (body, response.text)
            assert needle in response.json()["error"], (body, response.text)
        assert get_client().store.deployments.get("rf-prod").revision == 2  # none of them wrote

        put = await a.put(
            "/admin/routes",
            json={"canary": {"percent": 25}, "shadow": {"ref": "3"}, "sticky": "header:X-Customer"},
        )
        assert put.status_code == 200, put.text
        assert put.json()["sticky"] == "header:x-customer" and put.json()["shadow"]["version"] == 3
        same = await a.put("/admin/routes", json={"canary": {"percent": 25}})  # nothing changes
        assert same.json()["deployment"]["revision"] == 3
    history = get_client().store.deployments.history("rf-prod")
    assert [(d.revision, d.updated_by, d.reason) for d in history] == [
        (1, "test", "first"),
        (2, "admin-api", "try v2"),
        (3, "admin-api", ""),
    ]
    assert (history[2].canary, history[2].canary_percent, history[2].shadow) == ("@challenger", 25.0, "3")
    events = get_client().store.audit.events(entity_type="deployment")
    assert sorted((e.action, e.actor) for e in events) == [
        ("deployment.create", "test"),
        ("deployment.set", "admin-api"),
        ("deployment.set", "admin-api"),
    ]


async def test_a_sticky_header_keeps_each_key_on_one_model(x: pd.DataFrame, versions: Any) -> None:
    """One key, one model, while the percent holds; a higher percent only moves keys to the canary;
    requests without the key are drawn."""
    _create(canary="@challenger", canary_percent=30.0, sticky="header:x-customer")
    server = ModelServer.follow("rf-prod", ServerOptions(reload_interval=0))
    keys = [f"customer-{i}" for i in range(60)]
    async with asgi_client(server) as c:

        async def seen() -> dict[str, str]:
            answers: dict[str, set[str]] = {}
            for k, key in enumerate(keys * 2):
                headers = {"x-customer": key}
                response = await c.post("/v2/models/rf/infer", json=_tensor(x, k % 50), headers=headers)
                answers.setdefault(key, set()).add(response.json()["model_version"])
            assert all(len(v) == 1 for v in answers.values()), answers  # each key: one model
            return {key: v.pop() for key, v in answers.items()}

        at_30 = await seen()
        assert at_30 == {key: "2" if sticky_point(key) < 30 else "1" for key in keys}
        assert 0 < list(at_30.values()).count("2") < len(keys)
        _set(canary_percent=70.0)
        await server.reload()
        at_70 = await seen()
        assert all(at_70[key] == "2" for key in keys if at_30[key] == "2")  # none moved back
        assert list(at_70.values()).count("2") > list(at_30.values()).count("2")
        assert set(await _versions(c, x, 60)) == {"1", "2"}  # no key: drawn at random
    logged = _logged()
    assert set(zip(logged["model_version"], logged["route"], strict=True)) == {(1, "champion"), (2, "canary")}


async def test_a_sticky_column_takes_the_key_from_the_first_row(x: pd.DataFrame, versions: Any) -> None:
    """The key is the column's value in the request's first row, the same whichever way the row is sent
    (an array of numbers or records, 42 or 42.0)."""
    _create(canary="@challenger", canary_percent=50.0, sticky="column:f0")
    server = ModelServer.follow("rf-prod", ServerOptions(reload_interval=0))
    expected: dict[str, int] = {}  # request id -> the version its first row's key names
    async with asgi_client(server) as c:
        for i in range(40):
            row, other = x.iloc[i], x.iloc[200 + i]
            version = 2 if sticky_point(str(int(row["f0"]))) < 50 else 1
            first = {**row.to_dict(), "f0": int(row["f0"])}  # 42, not 42.0: the same key
            for body in (
                {"dataframe_split": {"columns": COLUMNS, "data": [row.tolist(), other.tolist()]}},
                {"dataframe_records": [first, other.to_dict()]},
            ):
                response = await c.post("/invocations", json=body)
                assert response.status_code == 200, response.text
                rows = pd.DataFrame([row, other])
                assert response.json()["predictions"] == versions[version].predict(rows).tolist()
                expected[response.headers["x-request-id"]] = version
            v2 = await c.post("/v2/models/rf/infer", json=_tensor(x, i))
            assert v2.json()["model_version"] == str(version), (i, row["f0"])
        bad = await c.post("/invocations", json={"dataframe_records": [{"f0": 1}]})
        assert bad.status_code == 422  # a request that does not fit is refused as before
    assert set(expected.values()) == {1, 2}
    logged = _logged().set_index("request_id")
    for request_id, version in expected.items():
        assert set(logged.loc[[request_id], "model_version"]) == {version}  # both rows, one version


def test_sticky_points_are_stable_and_spread() -> None:
    assert sticky_point("customer-1") == pytest.approx(sticky_point("customer-1"))
    points = [sticky_point(f"k{i}") for i in range(2000)]
    assert all(0 <= p < 100 for p in points)
    assert 0.45 < sum(p < 50 for p in points) / len(points) < 0.55
    # the same point in every process: blake3 of the key's bytes, not Python's salted hash
    assert sticky_point("customer-1") == pytest.approx(_blake3_point("customer-1"))
    assert pick_canary(100.0, "any") and not pick_canary(0.0, "any")
    assert Sticky.parse("header:X-Customer") == Sticky("header", "x-customer")
    assert Sticky.parse("column:customer_id") == Sticky("column", "customer_id")
    for bad in ("cookie:x", "header:", "column", ""):
        with pytest.raises(lm.errors.InvalidArgumentError, match="header:<name>"):
            Sticky.parse(bad)
    rows = pd.DataFrame({"id": [42, 7], "v": [1.0, 2.0]})
    assert Sticky("column", "id").key_of(rows, []) == "42"
    assert Sticky("column", "id").key_of(np.array([[42.0, 1.0]]), ["id", "v"]) == "42"
    assert Sticky("column", "v").key_of(np.array([[42.0, 1.5]]), ["id", "v"]) == "1.5"
    assert Sticky("column", "id").key_of(pd.DataFrame({"id": [None]}), []) is None


def _blake3_point(key: str) -> float:
    from blake3 import blake3

    return int.from_bytes(blake3(key.encode()).digest(8), "big") / 2**64 * 100


def test_loopml_serve_refuses_a_model_and_a_deployment_together(versions: Any) -> None:
    import subprocess
    import sys

    for args, needle in (
        (["rf@champion", "--deployment", "rf-prod"], "one of the two"),
        ([], "one of the two"),
        (["--deployment", "nope"], "nope"),
        (["--deployment", "rf-prod", "--canary", "rf:2=10"], "loopml deploy set rf-prod"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "loopml", "serve", *args], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 1 and needle in out.stderr and "Traceback" not in out.stderr, out.stderr


# -- real processes


class Traffic:
    """Requests sent without pause to several servers from a thread, each on a new connection (so every
    worker of a server gets some): what each answered, and every failure."""

    def __init__(self, urls: list[str], x: pd.DataFrame) -> None:
        self.urls, self.x = urls, x
        self.answers: list[tuple[str, str, str]] = []  # (url, request id, version)
        self.failures: list[Any] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        i = 0
        while not self._stop.is_set():
            for url in self.urls:
                try:
                    response = httpx.post(
                        url + "/v2/models/rf/infer",
                        json=_tensor(self.x, i % 100),
                        headers={"connection": "close"},
                        timeout=30,
                    )
                except httpx.HTTPError as exc:
                    self.failures.append((url, repr(exc)))
                    continue
                if response.status_code != 200:
                    self.failures.append((url, response.status_code, response.text))
                    continue
                self.answers.append((url, response.headers["x-request-id"], response.json()["model_version"]))
            i += 1

    def wait_until(self, versions: set[str], streak: int = 30, timeout: float = 120) -> None:
        """Until the last ``streak`` answers of every server are all of ``versions`` (each server's
        workers have all picked the change up) and, for a share, show each of them."""
        deadline = time.monotonic() + timeout
        while True:
            tails = {url: [v for u, _, v in self.answers if u == url][-streak:] for url in self.urls}
            if all(len(t) == streak and set(t) == versions for t in tails.values()):
                return
            if time.monotonic() > deadline or self.failures:
                raise AssertionError(f"servers did not all serve {versions}: {tails}, {self.failures[:3]}")
            time.sleep(0.1)


@pytest.mark.slow
def test_two_server_processes_follow_one_deployment(x: pd.DataFrame, versions: Any) -> None:
    """Two `loopml serve --deployment rf-prod` processes on one SQLite store, one of them with two workers,
    under traffic while the deployment changes: canary on, its percent, the champion's alias moving."""
    _create()
    args = ("--deployment", "rf-prod", "--reload-interval", "0.2")
    with (
        serving(None, args=(*args, "--workers", "2")) as first,
        serving(None, args=args) as second,
        Traffic([first.url, second.url], x) as traffic,
    ):
        traffic.wait_until({"1"})
        _set(canary="@challenger", canary_percent=100.0, reason="canary on")
        traffic.wait_until({"2"})
        _set(canary_percent=50.0, reason="half")
        traffic.wait_until({"1", "2"})
        lm.set_alias("rf", "champion", 3, reason="new champion")
        traffic.wait_until({"3", "2"})
    assert traffic.failures == []  # no failed request during a change
    logged = _logged().set_index("request_id")
    answered = {rid: version for _, rid, version in traffic.answers}
    assert sorted(logged.index) == sorted(answered)  # every answer logged once, by every worker
    assert all(str(logged.loc[rid, "model_version"]) == v for rid, v in answered.items())
    routes = set(zip(logged["model_version"], logged["route"], strict=True))
    assert routes == {(1, "champion"), (2, "canary"), (3, "champion")}
