"""30 s of load at 32 connections over real HTTP, with an alias move in the middle: no failed request, and
exactly one prediction-log row per answered request."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import loopml as lm
from loopml.monitoring import read_predictions
from loopml.tracking import get_client

from ._http import serving

COLUMNS = [f"f{i}" for i in range(8)]
SECONDS = 30.0
CONNECTIONS = 32


@pytest.mark.slow
def test_load_with_an_alias_move_loses_no_request_and_logs_each_once() -> None:
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(500, 8)), columns=COLUMNS)
    for seed, column in ((0, "f0"), (1, "f1")):
        model = LogisticRegression(random_state=seed).fit(x, (x[column] > 0).astype(int))
        lm.register_model("load", model, input_example=x.head(20))
    lm.set_alias("load", "champion", 1)
    with serving("load@champion") as served:
        answered, failures, versions = asyncio.run(_load(served.url, x))
    output = served.output
    assert failures == [], failures[:5]
    assert len(answered) > 100 and versions == {"1", "2"}, (len(answered), versions, output)
    client = get_client()
    log = read_predictions(client.store, client.artifacts, "load")
    assert len(log) == len(answered)
    assert sorted(log["request_id"]) == sorted(answered)
    assert set(log["model_version"]) == {1, 2}


async def _load(url: str, x: pd.DataFrame) -> tuple[list[str], list[Any], set[str]]:
    answered: list[str] = []
    failures: list[Any] = []
    versions: set[str] = set()
    stop = time.monotonic() + SECONDS
    moved = False

    async def connection(client: httpx.AsyncClient, k: int) -> None:
        i = k
        while time.monotonic() < stop:
            row = x.iloc[i % len(x)].tolist()
            body = {"inputs": [{"name": "input", "shape": [1, 8], "datatype": "FP64", "data": row}]}
            try:
                response = await client.post(url + "/v2/models/load/infer", json=body)
            except httpx.HTTPError as exc:
                failures.append(repr(exc))
                continue
            if response.status_code != 200:
                failures.append((response.status_code, response.text))
                continue
            answered.append(response.headers["x-request-id"])
            versions.add(response.json()["model_version"])
            i += CONNECTIONS

    async def move() -> None:
        nonlocal moved
        await asyncio.sleep(SECONDS / 2)
        await asyncio.to_thread(lm.set_alias, "load", "champion", 2, reason="mid-load move")
        moved = True

    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        await asyncio.gather(move(), *(connection(client, k) for k in range(CONNECTIONS)))
    assert moved
    return answered, failures, versions
