"""Store contract for the closed loop: deployments with their history and audit trail, the loop's leases and
its compare-and-set state (SQLite, PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from loopml.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.store import Deployment, Lease, LoopState, SqlStore

MIN = 60_000


def create(store: SqlStore, name: str = "churn-live", **kw: Any) -> Deployment:
    fields: dict[str, Any] = {"model": "churn", "at_ms": 10, "actor": "ada", "reason": "first rollout"}
    fields.update(kw)
    return store.deployments.create(name, **fields)


class TestDeployments:
    def test_a_deployment_is_created_read_and_listed(self, store: SqlStore) -> None:
        d = create(store)
        create(store, "fraud-live", model="fraud", champion="3", at_ms=20)
        create(store, "churn-eu", champion="@eu", at_ms=30)
        assert (d.model, d.champion, d.canary, d.canary_percent, d.shadow, d.sticky) == (
            "churn",
            "@champion",
            None,
            0.0,
            None,
            None,
        )
        assert (d.revision, d.created_ms, d.updated_ms, d.updated_by, d.reason) == (
            1,
            10,
            10,
            "ada",
            "first rollout",
        )
        assert store.deployments.get("churn-live") == d
        assert [x.name for x in store.deployments.list()] == ["churn-eu", "churn-live", "fraud-live"]
        assert [x.name for x in store.deployments.list(model="churn")] == ["churn-eu", "churn-live"]
        assert store.deployments.list(model="nobody") == []
        assert d.routes() == {"champion": "@champion", "canary": None, "shadow": None}

    def test_every_route_can_be_set_at_creation(self, store: SqlStore) -> None:
        d = create(
            store, champion="4", canary="@challenger", canary_percent=12.5, shadow="5", sticky="header:x-user"
        )
        assert store.deployments.get("churn-live") == d
        assert (d.champion, d.canary, d.canary_percent, d.shadow, d.sticky) == (
            "4",
            "@challenger",
            12.5,
            "5",
            "header:x-user",
        )

    def test_a_taken_name_is_refused(self, store: SqlStore) -> None:
        create(store)
        with pytest.raises(ConflictError, match=r"'churn-live' exists.*loopml deploy set churn-live"):
            create(store, model="other")
        assert store.deployments.get("churn-live").model == "churn"
        assert len(store.audit.events("deployment", "churn-live")) == 1

    def test_a_missing_deployment_names_those_that_exist(self, store: SqlStore) -> None:
        with pytest.raises(NotFoundError, match=r"No deployment named 'x' \(deployments: none yet\)"):
            store.deployments.get("x")
        create(store, "b")
        create(store, "a")
        for call in (
            lambda: store.deployments.get("x"),
            lambda: store.deployments.history("x"),
            lambda: store.deployments.update("x", {"canary": "2"}, at_ms=1, actor="ada"),
        ):
            with pytest.raises(NotFoundError, match=r"\(deployments: a, b\).*loopml deploy create x"):
                call()

    def test_an_update_writes_the_next_revision_and_keeps_the_history(self, store: SqlStore) -> None:
        first = create(store)
        second = store.deployments.update(
            "churn-live",
            {"canary": "@challenger", "canary_percent": 10},
            at_ms=20,
            actor="agent",
            reason="canary step 1",
        )
        assert (second.revision, second.canary, second.canary_percent) == (2, "@challenger", 10.0)
        assert (second.champion, second.created_ms, second.updated_ms, second.updated_by) == (
            "@champion",
            10,
            20,
            "agent",
        )
        assert second.id == first.id and second.reason == "canary step 1"
        third = store.deployments.update(
            "churn-live", {"canary": None, "canary_percent": 0, "shadow": "7"}, at_ms=30, actor="bob"
        )
        assert (third.revision, third.canary, third.canary_percent, third.shadow) == (3, None, 0.0, "7")
        assert store.deployments.get("churn-live") == third
        assert store.deployments.history("churn-live") == [first, second, third]
        assert store.deployments.list() == [third]

    def test_an_update_that_changes_nothing_writes_nothing(self, store: SqlStore) -> None:
        first = create(store, canary="2", canary_percent=5)
        same = store.deployments.update(
            "churn-live", {"canary": "2", "canary_percent": 5.0}, at_ms=20, actor="bob"
        )
        assert same == first
        assert len(store.deployments.history("churn-live")) == 1
        assert [e.action for e in store.audit.events("deployment", "churn-live")] == ["deployment.create"]

    def test_a_stale_expected_revision_is_refused_and_nothing_written(self, store: SqlStore) -> None:
        create(store)
        store.deployments.update("churn-live", {"canary": "2", "canary_percent": 5}, at_ms=20, actor="a")
        with pytest.raises(ConflictError, match=r"at revision 2, not 1.*loopml deploy show churn-live"):
            store.deployments.update(
                "churn-live", {"canary_percent": 50}, at_ms=30, actor="b", expected_revision=1
            )
        assert store.deployments.get("churn-live").canary_percent == 5.0
        assert len(store.deployments.history("churn-live")) == 2
        done = store.deployments.update(
            "churn-live", {"canary_percent": 50}, at_ms=30, actor="b", expected_revision=2
        )
        assert (done.revision, done.canary_percent) == (3, 50.0)

    def test_concurrent_updates_each_write_their_own_revision(self, store: SqlStore) -> None:
        create(store)
        errors: list[BaseException] = []
        start = threading.Barrier(6)

        def worker(i: int) -> None:
            try:
                start.wait()
                store.deployments.update(
                    "churn-live", {"canary": str(i), "canary_percent": i}, at_ms=100 + i, actor=f"w{i}"
                )
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(1, 7)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors
        history = store.deployments.history("churn-live")
        assert [d.revision for d in history] == list(range(1, 8))
        assert sorted(d.updated_by for d in history[1:]) == [f"w{i}" for i in range(1, 7)]
        assert store.deployments.get("churn-live") == history[-1]

    def test_concurrent_compare_and_set_updates_let_exactly_one_win(self, store: SqlStore) -> None:
        create(store)
        outcomes: list[str] = []
        start = threading.Barrier(6)

        def worker(i: int) -> None:
            start.wait()
            try:
                store.deployments.update(
                    "churn-live", {"canary_percent": i}, at_ms=100, actor=f"w{i}", expected_revision=1
                )
                outcomes.append("won")
            except ConflictError:
                outcomes.append("conflict")

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(1, 7)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert sorted(outcomes) == ["conflict"] * 5 + ["won"]
        assert [d.revision for d in store.deployments.history("churn-live")] == [1, 2]

    def test_each_change_writes_its_audit_event_with_old_and_new_values(self, store: SqlStore) -> None:
        create(store, at_ms=10, actor="ada", reason="first rollout")
        store.deployments.update(
            "churn-live",
            {"canary": "@challenger", "canary_percent": 10, "champion": "@champion"},
            at_ms=20,
            actor="agent",
            reason="gate passed",
        )
        created, changed = store.audit.events("deployment", "churn-live")
        assert (created.action, created.actor, created.at_ms, created.reason, created.entity_type) == (
            "deployment.create",
            "ada",
            10,
            "first rollout",
            "deployment",
        )
        assert created.details == {
            "model": "churn",
            "revision": 1,
            "changes": {
                "champion": {"old": None, "new": "@champion"},
                "canary": {"old": None, "new": None},
                "canary_percent": {"old": None, "new": 0.0},
                "shadow": {"old": None, "new": None},
                "sticky": {"old": None, "new": None},
            },
        }
        assert (changed.action, changed.actor, changed.at_ms, changed.reason) == (
            "deployment.set",
            "agent",
            20,
            "gate passed",
        )
        # the champion was given but did not change: only the fields that changed are named
        assert changed.details == {
            "model": "churn",
            "revision": 2,
            "changes": {
                "canary": {"old": None, "new": "@challenger"},
                "canary_percent": {"old": 0.0, "new": 10.0},
            },
        }

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"model": "other"}, r"names 'model'; the fields that can change are champion, canary"),
            ({"revision": 9, "name": "x"}, r"names 'name', 'revision'"),
            ({"canary_percent": 101}, r"canary_percent is a number from 0 to 100 \(got 101\)"),
            ({"canary_percent": -1}, r"canary_percent is a number from 0 to 100"),
            ({"canary_percent": float("nan")}, r"canary_percent is a number from 0 to 100"),
            ({"canary_percent": "10"}, r"canary_percent is a number from 0 to 100"),
            ({"champion": None}, r"champion is 1 to 160 characters of text \(got None\)"),
            ({"champion": ""}, r"champion is 1 to 160 characters"),
            ({"canary": 7}, r"canary is 1 to 160 characters of text \(or None\) \(got 7\)"),
            ({"sticky": "x" * 300}, r"sticky is 1 to 255 characters"),
        ],
    )
    def test_a_bad_change_is_refused_and_nothing_written(
        self, store: SqlStore, changes: dict[str, Any], message: str
    ) -> None:
        create(store)
        with pytest.raises(InvalidArgumentError, match=message):
            store.deployments.update("churn-live", changes, at_ms=20, actor="bob")
        assert len(store.deployments.history("churn-live")) == 1
        assert len(store.audit.events("deployment")) == 1

    def test_a_bad_creation_is_refused(self, store: SqlStore) -> None:
        with pytest.raises(InvalidArgumentError, match="a deployment's name is 1 to 128 characters"):
            create(store, "")
        with pytest.raises(InvalidArgumentError, match="a deployment's model is 1 to 128"):
            create(store, model="m" * 129)
        with pytest.raises(InvalidArgumentError, match="canary_percent is a number from 0 to 100"):
            create(store, canary="2", canary_percent=150)
        assert store.deployments.list() == []
        assert store.audit.events("deployment") == []

    def test_deployments_refer_to_no_blobs(self, store: SqlStore) -> None:
        before = sorted(store.referenced_digests())
        create(store)
        assert sorted(store.referenced_digests()) == before


class TestLeases:
    def test_a_free_lease_is_taken_and_renewed_by_its_holder(self, store: SqlStore) -> None:
        assert store.loops.lease("churn") is None
        assert store.loops.acquire_lease("churn", "agent-a", now_ms=1000, ttl_ms=MIN)
        assert store.loops.lease("churn") == Lease("churn", "agent-a", 1000 + MIN)
        assert store.loops.acquire_lease("churn", "agent-a", now_ms=2000, ttl_ms=MIN)
        assert store.loops.lease("churn") == Lease("churn", "agent-a", 2000 + MIN)

    def test_a_live_lease_is_refused_to_another_and_taken_after_expiry(self, store: SqlStore) -> None:
        assert store.loops.acquire_lease("churn", "agent-a", now_ms=1000, ttl_ms=MIN)
        assert not store.loops.acquire_lease("churn", "agent-b", now_ms=1000 + MIN - 1, ttl_ms=MIN)
        # at the expiry instant the lease still holds; a moment after it, it is free
        assert not store.loops.acquire_lease("churn", "agent-b", now_ms=1000 + MIN, ttl_ms=MIN)
        assert store.loops.lease("churn") == Lease("churn", "agent-a", 1000 + MIN)
        assert store.loops.acquire_lease("churn", "agent-b", now_ms=1001 + MIN, ttl_ms=MIN)
        assert store.loops.lease("churn") == Lease("churn", "agent-b", 1001 + 2 * MIN)
        # the old holder comes back: refused while b's lease lives
        assert not store.loops.acquire_lease("churn", "agent-a", now_ms=1002 + MIN, ttl_ms=MIN)

    def test_leases_of_models_are_independent(self, store: SqlStore) -> None:
        assert store.loops.acquire_lease("churn", "agent-a", now_ms=0, ttl_ms=MIN)
        assert store.loops.acquire_lease("fraud", "agent-b", now_ms=0, ttl_ms=MIN)
        assert store.loops.lease("fraud") == Lease("fraud", "agent-b", MIN)

    def test_only_the_holder_releases_its_lease(self, store: SqlStore) -> None:
        assert store.loops.acquire_lease("churn", "agent-a", now_ms=0, ttl_ms=MIN)
        store.loops.release_lease("churn", "agent-b")
        assert store.loops.lease("churn") == Lease("churn", "agent-a", MIN)
        assert not store.loops.acquire_lease("churn", "agent-b", now_ms=1, ttl_ms=MIN)
        store.loops.release_lease("churn", "agent-a")
        assert store.loops.lease("churn") is None
        assert store.loops.acquire_lease("churn", "agent-b", now_ms=1, ttl_ms=MIN)
        store.loops.release_lease("nobody", "agent-b")  # nothing to release: no error

    def test_a_bad_lease_request_is_refused(self, store: SqlStore) -> None:
        with pytest.raises(InvalidArgumentError, match="ttl_ms must be positive"):
            store.loops.acquire_lease("churn", "agent-a", now_ms=0, ttl_ms=0)
        with pytest.raises(InvalidArgumentError, match="holder is 1 to 255 characters"):
            store.loops.acquire_lease("churn", "", now_ms=0, ttl_ms=MIN)
        assert store.loops.lease("churn") is None

    @pytest.mark.parametrize("expired", [False, True], ids=["no-lease-yet", "expired-lease"])
    def test_threads_racing_for_a_lease_let_exactly_one_win(self, store: SqlStore, expired: bool) -> None:
        if expired:
            assert store.loops.acquire_lease("churn", "old", now_ms=0, ttl_ms=10)
        won: list[str] = []
        errors: list[BaseException] = []
        start = threading.Barrier(8)

        def worker(i: int) -> None:
            try:
                start.wait()
                if store.loops.acquire_lease("churn", f"agent-{i}", now_ms=1000, ttl_ms=MIN):
                    won.append(f"agent-{i}")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert not errors
        assert len(won) == 1
        assert store.loops.lease("churn") == Lease("churn", won[0], 1000 + MIN)

    @pytest.mark.slow
    def test_processes_racing_for_a_lease_let_exactly_one_win(self, store: SqlStore, tmp_path: Path) -> None:
        url = store.engine.url.render_as_string(hide_password=False)
        code = textwrap.dedent(
            """
            import sys, time
            from pathlib import Path
            from loopml.store import SqlStore
            url, holder, folder = sys.argv[1:]
            store = SqlStore(url)
            store.loops.lease("churn")  # connected and migrated before the race starts
            Path(folder, holder + ".ready").touch()
            while not Path(folder, "go").exists():
                time.sleep(0.002)
            print(store.loops.acquire_lease("churn", holder, now_ms=1000, ttl_ms=60000))
            """
        )
        holders = [f"agent-{i}" for i in range(4)]
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, url, h, str(tmp_path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for h in holders
        ]
        try:
            # wait until every process is ready (or one has failed), then start them at once
            while not all((tmp_path / f"{h}.ready").exists() for h in holders):
                if any(p.poll() is not None for p in procs):
                    break
                threading.Event().wait(0.01)
            (tmp_path / "go").touch()
            results = {h: p.communicate(timeout=120) for h, p in zip(holders, procs, strict=True)}
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
        assert all(p.returncode == 0 for p in procs), {h: err for h, (_, err) in results.items()}
        winners = [h for h, (out, _) in results.items() if out.strip() == "True"]
        assert len(winners) == 1, results
        assert sorted(out.strip() for out, _ in results.values()) == ["False"] * 3 + ["True"]
        assert store.loops.lease("churn") == Lease("churn", winners[0], 1000 + MIN)


class TestLoopState:
    def test_a_model_never_written_has_a_fresh_state(self, store: SqlStore) -> None:
        assert store.loops.get_state("churn") == LoopState("churn")
        assert store.loops.states() == []

    def test_put_state_writes_the_next_revision(self, store: SqlStore) -> None:
        fresh = store.loops.get_state("churn")
        first = store.loops.put_state(
            replace(
                fresh, stage="canary", candidate=7, data={"step": 0, "started_ms": 5}, reason="gate passed"
            ),
            at_ms=100,
        )
        assert (first.revision, first.updated_ms, first.stage, first.candidate) == (1, 100, "canary", 7)
        assert store.loops.get_state("churn") == first
        assert first.data == {"step": 0, "started_ms": 5}
        second = store.loops.put_state(replace(first, paused=True, data={"step": 1}), at_ms=200)
        assert (second.revision, second.paused, second.data) == (2, True, {"step": 1})
        assert store.loops.get_state("churn") == second
        store.loops.put_state(LoopState("alpha"), at_ms=300)
        assert [s.model for s in store.loops.states()] == ["alpha", "churn"]

    def test_put_state_with_a_stale_revision_is_refused_and_nothing_written(self, store: SqlStore) -> None:
        fresh = store.loops.get_state("churn")
        first = store.loops.put_state(replace(fresh, stage="retraining"), at_ms=100)
        with pytest.raises(ConflictError, match=r"'churn' is at revision 1, not 0"):
            store.loops.put_state(replace(fresh, stage="gating"), at_ms=110)
        store.loops.put_state(replace(first, stage="gating"), at_ms=120)
        with pytest.raises(ConflictError, match=r"at revision 2, not 1"):
            store.loops.put_state(replace(first, stage="idle"), at_ms=130)
        stored = store.loops.get_state("churn")
        assert (stored.stage, stored.revision, stored.updated_ms) == ("gating", 2, 120)

    @pytest.mark.parametrize("first_write", [True, False], ids=["first-write", "later-write"])
    def test_racing_writers_of_one_revision_let_exactly_one_win(
        self, store: SqlStore, first_write: bool
    ) -> None:
        read = store.loops.get_state("churn")
        if not first_write:
            read = store.loops.put_state(read, at_ms=1)
        outcomes: list[str] = []
        start = threading.Barrier(6)

        def worker(i: int) -> None:
            start.wait()
            try:
                store.loops.put_state(replace(read, stage="gating", reason=f"w{i}"), at_ms=10)
                outcomes.append(f"w{i}")
            except ConflictError:
                outcomes.append("conflict")

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert outcomes.count("conflict") == 5
        [winner] = [o for o in outcomes if o != "conflict"]
        stored = store.loops.get_state("churn")
        assert (stored.reason, stored.revision) == (winner, read.revision + 1)

    def test_a_bad_state_is_refused(self, store: SqlStore) -> None:
        with pytest.raises(InvalidArgumentError, match=r"stage is one of idle, retraining.*\(got 'done'\)"):
            store.loops.put_state(LoopState("churn", stage="done"), at_ms=1)
        with pytest.raises(InvalidArgumentError, match=r"data of 'churn' must be JSON|state must be JSON"):
            store.loops.put_state(LoopState("churn", data={"when": object()}), at_ms=1)
        with pytest.raises(
            InvalidArgumentError,
            match=r"candidate is a version number|state\.candidate: Input should be a valid integer",
        ):
            store.loops.put_state(LoopState("churn", candidate="7"), at_ms=1)  # type: ignore[arg-type]
        assert store.loops.states() == []
