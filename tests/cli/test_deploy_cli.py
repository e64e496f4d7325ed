"""``loopml deploy create|set|show|history|ls``: tables, --json, and mistakes as one-line errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.tree import DecisionTreeClassifier
from typer.testing import CliRunner

import loopml as lm
from loopml.cli import app

runner = CliRunner()


def invoke(*args: str) -> tuple[int, str]:
    """The exit code and the output, with the terminal's line wrapping undone (JSON is unaffected)."""
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output if "--json" in args else " ".join(result.output.split())


@pytest.fixture(autouse=True)
def churn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Model churn with versions 1 and 2; @champion is 1, @challenger 2."""
    monkeypatch.setenv("LOOPML_USER", "ada")
    x, y = make_classification(n_samples=200, n_features=3, n_informative=2, n_redundant=0, random_state=0)
    frame = pd.DataFrame(x, columns=["tenure", "spend", "customer_id"])
    for depth in (1, 2):
        model = DecisionTreeClassifier(max_depth=depth, random_state=0).fit(frame, y)
        lm.register_model("churn", model, input_example=frame.head(3))
    lm.set_alias("churn", "champion", 1)
    lm.set_alias("churn", "challenger", 2)


def test_create_set_show_history_and_ls() -> None:
    code, out = invoke("deploy", "create", "churn-live", "--model", "churn", "--reason", "first rollout")
    assert code == 0, out
    assert "churn-live" in out and "revision 1" in out and "champion @champion" in out
    code, out = invoke("deploy", "set", "churn-live", "--canary", "churn@challenger", "--percent", "10")
    assert code == 0 and "revision 2" in out and "canary @challenger at 10%" in out, out

    shown = json.loads(invoke("deploy", "show", "churn-live", "--json")[1])
    assert (shown["name"], shown["model"], shown["revision"], shown["updated_by"]) == (
        "churn-live",
        "churn",
        2,
        "ada",
    )
    assert shown["routes"] == {
        "champion": {"ref": "@champion", "model_ref": "churn@champion", "version": 1, "percent": 90.0},
        "canary": {"ref": "@challenger", "model_ref": "churn@challenger", "version": 2, "percent": 10.0},
        "shadow": None,
    }
    code, out = invoke("deploy", "show", "churn-live")
    assert code == 0
    assert "churn@champion" in out and "90%" in out and "churn@challenger" in out and "10%" in out
    assert "by ada" in out

    code, out = invoke(
        "deploy", "set", "churn-live", "--no-canary", "--shadow", "2", "--sticky", "column:customer_id"
    )
    assert code == 0, out
    shown = json.loads(invoke("deploy", "show", "churn-live", "--json")[1])
    assert shown["routes"]["canary"] is None
    assert shown["routes"]["shadow"] == {"ref": "2", "model_ref": "churn:2", "version": 2, "percent": None}
    assert (shown["canary_percent"], shown["sticky"]) == (0.0, "column:customer_id")
    code, out = invoke("deploy", "show", "churn-live")
    assert "copy" in out and "column:customer_id" in out

    history = json.loads(invoke("deploy", "history", "churn-live", "--json")[1])
    assert [h["revision"] for h in history] == [1, 2, 3]
    assert [h["canary"] for h in history] == [None, "@challenger", None]
    assert history[0]["reason"] == "first rollout"
    code, out = invoke("deploy", "history", "churn-live")
    assert code == 0 and "first rollout" in out and "@challenger" in out

    invoke("deploy", "create", "churn-eu", "--model", "churn", "--champion", "2")
    listed = json.loads(invoke("deploy", "ls", "--json")[1])
    assert [(d["name"], d["champion"], d["revision"]) for d in listed] == [
        ("churn-eu", "2", 1),
        ("churn-live", "@champion", 3),
    ]
    assert json.loads(invoke("deploy", "ls", "--model", "other", "--json")[1]) == []
    code, out = invoke("deploy", "ls")
    assert code == 0 and "churn-eu" in out and "churn-live" in out


def test_create_with_every_route_and_json() -> None:
    code, out = invoke(
        "deploy",
        "create",
        "churn-live",
        "--model",
        "churn",
        "--champion",
        "churn:1",
        "--canary",
        "@challenger",
        "--percent",
        "5",
        "--shadow",
        "@challenger",
        "--sticky",
        "header:X-Customer",
        "--json",
    )
    assert code == 0, out
    created = json.loads(out)
    assert (created["champion"], created["canary"], created["canary_percent"]) == ("1", "@challenger", 5.0)
    assert (created["shadow"], created["sticky"], created["revision"]) == (
        "@challenger",
        "header:x-customer",
        1,
    )


def test_a_change_that_changes_nothing_says_so() -> None:
    invoke("deploy", "create", "churn-live", "--model", "churn")
    code, out = invoke("deploy", "set", "churn-live", "--champion", "@champion")
    assert code == 0 and "unchanged at revision 1" in out


def test_an_alias_that_is_gone_shows_as_not_found() -> None:
    invoke("deploy", "create", "churn-live", "--model", "churn", "--canary", "@challenger", "--percent", "10")
    lm.registry.delete_alias("churn", "challenger")
    shown = json.loads(invoke("deploy", "show", "churn-live", "--json")[1])
    assert shown["routes"]["canary"]["version"] is None
    code, out = invoke("deploy", "show", "churn-live")
    assert code == 0 and "not found" in out and "does not exist" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("deploy", "create", "x", "--model", "nobody"), "No registered model named 'nobody'"),
        (("deploy", "create", "x", "--model", "churn", "--champion", "9"), "has no version 9"),
        (("deploy", "create", "x", "--model", "churn", "--canary", "2"), "needs a share of traffic above 0"),
        (("deploy", "create", "x", "--model", "churn", "--percent", "5"), "needs a canary"),
        (("deploy", "create", "x", "--model", "churn", "--sticky", "cookie:a"), "sticky is 'header:<name>'"),
        (("deploy", "set", "nobody", "--percent", "5"), "No deployment named 'nobody'"),
        (("deploy", "set", "churn-live"), "Nothing to change: give --champion"),
        (("deploy", "set", "churn-live", "--canary", "2", "--no-canary"), "Give --canary or --no-canary"),
        (("deploy", "set", "churn-live", "--no-canary", "--percent", "3"), "leave out --percent"),
        (("deploy", "set", "churn-live", "--shadow", "other:1"), "names model 'other'"),
        (("deploy", "set", "churn-live", "--percent", "150"), "a percent from 0 to 100"),
        (("deploy", "create", "churn-live", "--model", "churn"), "'churn-live' exists"),
        (("deploy", "show", "nobody"), r"deployments: churn-live"),
        (("deploy", "history", "nobody"), "loopml deploy create nobody --model MODEL"),
    ],
)
def test_mistakes_are_one_line_errors(args: tuple[str, ...], message: str) -> None:
    assert invoke("deploy", "create", "churn-live", "--model", "churn")[0] == 0
    code, out = invoke(*args)
    assert code == 1, out
    assert "error:" in out and message in out
    assert "Traceback" not in out
    assert len(lm.deployment_history("churn-live")) == 1


def test_no_deployments_yet() -> None:
    code, out = invoke("deploy", "ls")
    assert code == 0 and "No deployments yet" in out
