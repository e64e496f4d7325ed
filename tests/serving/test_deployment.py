"""``lm.deploy`` and friends: deployments created and changed through the registry's references, checked
against what exists, with their history and audit trail (SQLite and PostgreSQL)."""

from __future__ import annotations

import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.tree import DecisionTreeClassifier

import loopml as lm
from loopml import tracking
from loopml.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.serving import UNSET, normalize_ref, resolve_routes, route_ref
from loopml.store import SqlStore
from loopml.tracking import TrackingClient, get_client

COLUMNS = ["tenure", "spend", "visits", "customer_id"]


@pytest.fixture(autouse=True)
def on_each_store(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test of this module runs on SQLite and PostgreSQL, through the process-wide client."""
    monkeypatch.setenv("LOOPML_DATABASE_URL", store_url)
    monkeypatch.setenv("LOOPML_USER", "ada")
    tracking.reset()


def _fit(columns: list[str], depth: int) -> tuple[DecisionTreeClassifier, pd.DataFrame]:
    x, y = make_classification(
        n_samples=200, n_features=len(columns), n_informative=2, n_redundant=0, random_state=depth
    )
    frame = pd.DataFrame(x, columns=columns)
    return DecisionTreeClassifier(max_depth=depth, random_state=0).fit(frame, y), frame


@pytest.fixture
def churn() -> None:
    """Model churn: versions 1 and 2 (inputs COLUMNS), 3 (inputs a, b); @champion 1, @challenger 2."""
    for depth, columns in ((1, COLUMNS), (2, COLUMNS), (3, ["a", "b"])):
        model, frame = _fit(columns, depth)
        lm.register_model("churn", model, input_example=frame.head(3))
    lm.set_alias("churn", "champion", 1)
    lm.set_alias("churn", "challenger", 2)


@pytest.mark.usefixtures("churn")
class TestCreate:
    def test_a_deployment_is_created_with_the_champion_alias(self) -> None:
        d = lm.deploy("churn-live", "churn", reason="first rollout")
        assert (d.name, d.model, d.champion, d.canary, d.canary_percent, d.shadow, d.sticky) == (
            "churn-live",
            "churn",
            "@champion",
            None,
            0.0,
            None,
            None,
        )
        assert (d.revision, d.updated_by, d.reason) == (1, "ada", "first rollout")
        assert lm.get_deployment("churn-live") == d
        assert lm.list_deployments() == [d] and lm.list_deployments("churn") == [d]
        assert lm.list_deployments("other") == []
        [event] = get_client().store.audit.events("deployment", "churn-live")
        assert (event.action, event.actor, event.reason) == ("deployment.create", "ada", "first rollout")

    def test_every_route_can_be_given_at_creation(self) -> None:
        d = lm.deploy(
            "churn-live",
            "churn",
            champion="churn:1",
            canary="churn@challenger",
            canary_percent=10,
            shadow=3,
            sticky="header:X-Customer",
        )
        assert (d.champion, d.canary, d.canary_percent, d.shadow, d.sticky) == (
            "1",
            "@challenger",
            10.0,
            "3",
            "header:x-customer",
        )

    def test_the_time_comes_from_the_clients_clock(self, store_url: str) -> None:
        store = SqlStore(store_url)
        client = TrackingClient(store, get_client().artifacts, clock=lambda: 1234.5)
        d = lm.deploy("churn-live", "churn", client=client)
        assert (d.created_ms, d.updated_ms) == (1_234_500, 1_234_500)
        later = TrackingClient(store, client.artifacts, clock=lambda: 2000.0)
        assert (
            lm.deploy("churn-live", canary_percent=5, canary="@challenger", client=later).updated_ms
            == 2_000_000
        )
        store.close()

    def test_a_model_is_required_and_must_be_registered(self) -> None:
        with pytest.raises(
            InvalidArgumentError, match=r"No deployment named 'churn-live' exists yet: give its"
        ):
            lm.deploy("churn-live")
        with pytest.raises(NotFoundError, match="No registered model named 'nobody'"):
            lm.deploy("x", "nobody")
        with pytest.raises(InvalidArgumentError, match="Deployment name 'a b' is not allowed"):
            lm.deploy("a b", "churn")
        assert lm.list_deployments() == []

    def test_the_champion_alias_must_exist(self) -> None:
        lm.registry.delete_alias("churn", "champion")
        with pytest.raises(NotFoundError, match=r"has no alias 'champion' \(its aliases: challenger\)"):
            lm.deploy("churn-live", "churn")
        assert lm.list_deployments() == []
        assert lm.deploy("churn-live", "churn", champion="@challenger").champion == "@challenger"


@pytest.mark.usefixtures("churn")
class TestReferences:
    @pytest.mark.parametrize(
        ("given", "stored"),
        [
            ("@challenger", "@challenger"),
            ("churn@challenger", "@challenger"),
            ("churn:2", "2"),
            ("2", "2"),
            (2, "2"),
            ("@latest", "@latest"),
        ],
    )
    def test_a_reference_is_stored_relative_to_the_model(self, given: str | int, stored: str) -> None:
        assert normalize_ref("churn", given) == stored
        assert lm.deploy("churn-live", "churn", champion=given).champion == stored

    @pytest.mark.parametrize(
        ("given", "message"),
        [
            ("other@champion", r"names model 'other', but the deployment serves 'churn'"),
            ("other:1", r"names model 'other'"),
            ("champion", r"names no alias or version: use '@alias' \(as '@champion'\)"),
            (0, r"counts from 1 \(got 0\)"),
            (True, r"is '@alias' \(as '@champion'\), a version number"),
            (2.0, r"is '@alias'"),
            ("churn:x", r"must be a number from 1"),
            ("@", r"Alias '' is not allowed"),
        ],
    )
    def test_a_bad_reference_is_refused(self, given: object, message: str) -> None:
        with pytest.raises(InvalidArgumentError, match=message):
            lm.deploy("churn-live", "churn", champion=given)  # type: ignore[arg-type]
        assert lm.list_deployments() == []

    def test_a_missing_version_or_alias_names_what_exists(self) -> None:
        lm.deploy("churn-live", "churn")
        with pytest.raises(NotFoundError, match=r"has no version 9 \(its versions: 1, 2, 3\)"):
            lm.deploy("churn-live", canary="churn:9", canary_percent=5)
        with pytest.raises(
            NotFoundError, match=r"has no alias 'staging' \(its aliases: challenger, champion\)"
        ):
            lm.deploy("churn-live", shadow="@staging")
        assert len(lm.deployment_history("churn-live")) == 1

    def test_route_ref_and_resolve_routes(self) -> None:
        assert route_ref("churn", "@champion") == "churn@champion"
        assert route_ref("churn", "7") == "churn:7"
        with pytest.raises(InvalidArgumentError, match="not a stored route reference"):
            route_ref("churn", "champion")
        d = lm.deploy("churn-live", "churn", canary="@challenger", canary_percent=20)
        routes = resolve_routes(d)
        assert {k: None if v is None else v.version for k, v in routes.items()} == {
            "champion": 1,
            "canary": 2,
            "shadow": None,
        }
        # promotion is one alias move: the deployment is unchanged and now serves version 2 as champion
        lm.set_alias("churn", "champion", 2)
        champion = resolve_routes(lm.get_deployment("churn-live"))["champion"]
        assert champion is not None and champion.version == 2
        assert lm.get_deployment("churn-live").revision == 1
        lm.registry.delete_alias("churn", "challenger")
        with pytest.raises(
            NotFoundError, match=r"routes its canary to '@challenger', which does not resolve"
        ):
            resolve_routes(d)
        assert resolve_routes(d, strict=False)["canary"] is None


@pytest.mark.usefixtures("churn")
class TestChanges:
    def test_a_change_writes_the_next_revision_and_keeps_the_rest(self) -> None:
        first = lm.deploy("churn-live", "churn", shadow="@challenger")
        second = lm.deploy("churn-live", canary="@challenger", canary_percent=10, reason="canary step 1")
        assert (second.revision, second.champion, second.canary, second.canary_percent, second.shadow) == (
            2,
            "@champion",
            "@challenger",
            10.0,
            "@challenger",
        )
        third = lm.deploy("churn-live", "churn", canary_percent=50, shadow=None)
        assert (third.revision, third.canary, third.canary_percent, third.shadow) == (
            3,
            "@challenger",
            50.0,
            None,
        )
        fourth = lm.deploy("churn-live", canary=None)
        assert (fourth.canary, fourth.canary_percent) == (None, 0.0)
        assert [d.revision for d in lm.deployment_history("churn-live")] == [1, 2, 3, 4]
        assert lm.deployment_history("churn-live")[0] == first
        events = get_client().store.audit.events("deployment", "churn-live")
        assert [e.action for e in events] == ["deployment.create"] + ["deployment.set"] * 3
        assert events[1].reason == "canary step 1"
        assert events[3].details["changes"] == {
            "canary": {"old": "@challenger", "new": None},
            "canary_percent": {"old": 50.0, "new": 0.0},
        }

    def test_giving_nothing_new_writes_nothing(self) -> None:
        first = lm.deploy("churn-live", "churn", canary="@challenger", canary_percent=10)
        assert lm.deploy("churn-live", champion="churn@champion", canary_percent=10) == first
        assert lm.deploy("churn-live", canary=UNSET, shadow=UNSET, sticky=UNSET) == first
        assert len(lm.deployment_history("churn-live")) == 1

    def test_another_models_deployment_is_refused(self) -> None:
        lm.deploy("churn-live", "churn")
        model, frame = _fit(COLUMNS, 1)
        lm.register_model("fraud", model, input_example=frame.head(3))
        with pytest.raises(InvalidArgumentError, match="serves model 'churn', not 'fraud'"):
            lm.deploy("churn-live", "fraud", champion="1")

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            ({"canary": "@challenger"}, InvalidArgumentError, r"needs a share of traffic above 0"),
            ({"canary": "@challenger", "canary_percent": 0}, InvalidArgumentError, r"above 0"),
            ({"canary_percent": 10}, InvalidArgumentError, r"A canary share of 10% needs a canary"),
            ({"canary": None, "canary_percent": 5}, InvalidArgumentError, r"needs a canary"),
            (
                {"canary": "@challenger", "canary_percent": 101},
                InvalidArgumentError,
                r"a percent from 0 to 100 \(got 101\)",
            ),
            ({"canary": "2", "canary_percent": float("inf")}, InvalidArgumentError, r"from 0 to 100"),
            ({"canary": "2", "canary_percent": True}, InvalidArgumentError, r"from 0 to 100"),
        ],
    )
    def test_a_canary_needs_a_share_and_a_share_needs_a_canary(
        self, kwargs: dict[str, object], error: type[Exception], message: str
    ) -> None:
        lm.deploy("churn-live", "churn")
        with pytest.raises(error, match=message):
            lm.deploy("churn-live", **kwargs)  # type: ignore[arg-type]
        assert len(lm.deployment_history("churn-live")) == 1

    def test_the_canarys_share_changes_alone_once_there_is_a_canary(self) -> None:
        lm.deploy("churn-live", "churn", canary="@challenger", canary_percent=10)
        assert lm.deploy("churn-live", canary_percent=25).canary_percent == 25.0
        with pytest.raises(InvalidArgumentError, match="needs a share of traffic above 0"):
            lm.deploy("churn-live", canary_percent=0)

    def test_a_change_racing_another_is_checked_against_the_newer_revision(self) -> None:
        lm.deploy("churn-live", "churn")
        store = get_client().store
        store.deployments.update(
            "churn-live", {"canary": "2", "canary_percent": 5.0}, at_ms=1, actor="bob", expected_revision=1
        )
        # deploy reads revision 2 and writes 3 with expected_revision=2; the stale case is the store's test
        d = lm.deploy("churn-live", canary_percent=40)
        assert (d.revision, d.canary, d.canary_percent) == (3, "2", 40.0)
        with pytest.raises(ConflictError):
            store.deployments.update(
                "churn-live", {"canary_percent": 1}, at_ms=2, actor="x", expected_revision=2
            )

    def test_the_actor_can_be_named(self) -> None:
        lm.deploy("churn-live", "churn")
        d = lm.deploy("churn-live", canary="2", canary_percent=5, actor="admin-api", reason="from the API")
        assert (d.updated_by, d.reason) == ("admin-api", "from the API")
        event = get_client().store.audit.events("deployment", "churn-live")[-1]
        assert (event.actor, event.reason) == ("admin-api", "from the API")

    def test_an_expected_revision_makes_the_change_a_compare_and_set(self) -> None:
        with pytest.raises(ConflictError, match=r"is not created yet, not at revision 1"):
            lm.deploy("churn-live", "churn", expected_revision=1)
        assert lm.deploy("churn-live", "churn", expected_revision=0).revision == 1
        assert lm.deploy("churn-live", canary="2", canary_percent=5, expected_revision=1).revision == 2
        with pytest.raises(ConflictError, match=r"is at revision 2, not at revision 1.*loopml deploy show"):
            lm.deploy("churn-live", canary_percent=50, expected_revision=1)
        assert lm.get_deployment("churn-live").canary_percent == 5.0


@pytest.mark.usefixtures("churn")
class TestSticky:
    def test_a_header_key_is_kept_lowercase_and_a_column_must_be_an_input(self) -> None:
        assert lm.deploy("a", "churn", sticky="header:X-Customer-Id").sticky == "header:x-customer-id"
        assert lm.deploy("b", "churn", sticky="column:customer_id").sticky == "column:customer_id"
        with pytest.raises(
            InvalidArgumentError, match=r"sticky column 'email' is not an input of the champion"
        ):
            lm.deploy("b", sticky="column:email")
        with pytest.raises(InvalidArgumentError, match=r"its inputs: tenure, spend, visits, customer_id"):
            lm.deploy("b", sticky="column:email")
        assert lm.deploy("b", sticky=None).sticky is None

    @pytest.mark.parametrize(
        "bad", ["customer_id", "header:", "header:a b", "column:", "cookie:x", "header:é"]
    )
    def test_a_bad_sticky_key_is_refused(self, bad: str) -> None:
        with pytest.raises(InvalidArgumentError, match=r"sticky is 'header:<name>'.*or 'column:<name>'"):
            lm.deploy("churn-live", "churn", sticky=bad)
        assert lm.list_deployments() == []

    def test_a_new_champion_must_have_the_sticky_column(self) -> None:
        lm.deploy("churn-live", "churn", sticky="column:customer_id")
        with pytest.raises(
            InvalidArgumentError, match=r"not an input of the champion \(churn:3, version 3\)"
        ):
            lm.deploy("churn-live", champion=3)
        assert lm.deploy("churn-live", champion=2).champion == "2"
        # the canary's share changes without the champion's signature being read again
        assert lm.deploy("churn-live", canary="3", canary_percent=5).canary == "3"
