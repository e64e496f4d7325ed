"""A fuzzer (schemathesis) generates requests from the published OpenAPI document, valid and not, against a
real server: none may get a server error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

import loopml as lm

from ._http import serving

COLUMNS = ["temperature", "vibration", "status"]


@pytest.fixture(scope="module", params=["fuzz", "fuzz-numeric"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """A server of a model with a categorical column, or of one whose inputs are all floats (its plain
    numeric requests take the array path instead of the DataFrame)."""
    import os

    name = request.param

    home = tmp_path_factory.mktemp("fuzz-home")
    before = os.environ.get("LOOPML_HOME")
    os.environ["LOOPML_HOME"] = str(home)  # the registry the module's server reads; restored below
    lm.tracking.reset()
    rng = np.random.default_rng(0)
    x = pd.DataFrame(
        {
            "temperature": rng.normal(size=300),
            "vibration": rng.integers(0, 5, size=300),
            "status": pd.Categorical(rng.choice(["ok", "warn"], size=300)),
        }
    )
    y = rng.integers(0, 2, size=300)
    if name == "fuzz":
        encode = ColumnTransformer(
            [("status", OneHotEncoder(handle_unknown="ignore"), ["status"])], remainder="passthrough"
        )
        model = make_pipeline(encode, RandomForestClassifier(5, random_state=0)).fit(x, y)
    else:
        x = x.drop(columns=["status"]).astype(float)
        model = RandomForestClassifier(5, random_state=0).fit(x, y)
    lm.register_model(name, model, input_example=x.head(50))
    with serving(f"{name}:1", env={**os.environ, "LOOPML_HOME": str(home)}) as served:
        yield served.url, name
    if before is None:
        os.environ.pop("LOOPML_HOME", None)
    else:
        os.environ["LOOPML_HOME"] = before
    lm.tracking.reset()


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_request_gets_a_server_error(server: tuple[str, str], mode: str) -> None:
    from hypothesis import given
    from hypothesis.errors import Unsatisfiable
    from schemathesis.generation import GenerationMode

    server_url, name = server
    api = schemathesis.openapi.from_url(server_url + "/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 10
    seen: dict[int, int] = {}
    for operation in operations:
        # valid requests go to the model served here (random names would all be 404s)
        named = {"name": name} if mode == "positive" and "{name}" in operation.path else None
        strategy = operation.as_strategy(generation_mode=GenerationMode(mode), path_parameters=named)

        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(case=strategy)
        def call(case: Any) -> None:
            response = case.call_and_validate(checks=[not_a_server_error])
            seen[response.status_code] = seen.get(response.status_code, 0) + 1

        try:
            call()
        except Unsatisfiable:  # an operation without parameters or body has no invalid form
            assert mode == "negative"
    if mode == "positive":
        assert 200 in seen and any(400 <= code < 500 for code in seen), seen
    assert not any(code >= 500 for code in seen) and sum(seen.values()) > 50, seen
    assert httpx.get(server_url + "/v2/health/ready").status_code == 200  # and it still serves
