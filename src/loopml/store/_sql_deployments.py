"""Deployments and the loop's state in SQL: the ``store.deployments`` and ``store.loops`` repositories.

``deployments`` holds each deployment's current revision and ``deployment_revisions`` every revision (the
current one too), so ``history`` is one query and ``get`` never has to pick the newest. A change locks the
deployment's row (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's write transactions are serial already),
checks ``expected_revision`` against what it finds, writes the next revision and its audit event
(``deployment.create`` / ``deployment.set``, with each changed field's old and new value) in one transaction.

The loop's leases need no lock of their own: taking one is a single ``UPDATE ... WHERE holder = me OR
expires_ms < now``, and when no row exists yet, an ``INSERT`` that the primary key lets only one writer win.
A loop state is written with compare-and-set on its revision: an ``UPDATE ... WHERE revision = read`` (or the
first ``INSERT``) that touches no row means another writer came first, and nothing is written.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import math
import numbers
import uuid
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, select
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.store import _schema as t
from loopml.store._deployment_entities import LOOP_STAGES, Deployment, Lease, LoopState
from loopml.store._sql_models import _audit

if TYPE_CHECKING:
    from loopml.store._sql import SqlStore

_D = t.deployments.c
_R = t.deployment_revisions.c
_S = t.loop_states.c
_L = t.loop_leases.c

# the fields a revision may change, in the order the audit event and the CLI show them
FIELDS: tuple[str, ...] = ("champion", "canary", "canary_percent", "shadow", "sticky")
_NAME_LENGTH = 128  # the width of deployments.name, deployments.model and loop_states.model
_REF_LENGTH = 160  # the width of the route columns
_STICKY_LENGTH = 255
_HOLDER_LENGTH = 255


class SqlDeploymentRepository:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    # -- writing
    def create(
        self,
        name: str,
        *,
        model: str,
        champion: str = "@champion",
        canary: str | None = None,
        canary_percent: float = 0.0,
        shadow: str | None = None,
        sticky: str | None = None,
        at_ms: int,
        actor: str,
        reason: str = "",
    ) -> Deployment:
        """Record revision 1 of a new deployment; a name already taken raises ``ConflictError``."""
        _check_name(name, "a deployment's name")
        _check_name(model, "a deployment's model")
        routes = _checked(
            {
                "champion": champion,
                "canary": canary,
                "canary_percent": canary_percent,
                "shadow": shadow,
                "sticky": sticky,
            }
        )
        deployment = Deployment(
            id=uuid.uuid4().hex,
            name=name,
            model=model,
            champion=routes["champion"],
            canary=routes["canary"],
            canary_percent=routes["canary_percent"],
            shadow=routes["shadow"],
            sticky=routes["sticky"],
            revision=1,
            created_ms=at_ms,
            updated_ms=at_ms,
            updated_by=actor,
            reason=reason,
        )

        def write(conn: Connection) -> None:
            if conn.execute(select(_D.id).where(_D.name == name)).first() is not None:
                raise _taken(name)
            conn.execute(t.deployments.insert(), _deployment_row(deployment))
            conn.execute(t.deployment_revisions.insert(), _revision_row(deployment))
            _audit(
                conn,
                at_ms=at_ms,
                actor=actor,
                action="deployment.create",
                entity_type="deployment",
                entity=name,
                reason=reason,
                details={
                    "model": model,
                    "revision": 1,
                    "changes": {f: {"old": None, "new": routes[f]} for f in FIELDS},
                },
            )

        try:
            self._store.write(write)
        except SqlIntegrityError as exc:  # created at the same moment by another process
            raise _taken(name) from exc
        return deployment

    def update(
        self,
        name: str,
        changes: Mapping[str, Any],
        *,
        at_ms: int,
        actor: str,
        reason: str = "",
        expected_revision: int | None = None,
    ) -> Deployment:
        """Write the next revision: the current one with ``changes`` (keys among ``FIELDS``). With
        ``expected_revision``, a deployment changed since raises ``ConflictError`` and nothing is written.
        Changes that change nothing write no revision and return the current one."""
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise InvalidArgumentError(
                f"a deployment change names {', '.join(map(repr, unknown))}; the fields that can change are "
                f"{', '.join(FIELDS)}."
            )

        def write(conn: Connection) -> Deployment:
            row = conn.execute(select(t.deployments).where(_D.name == name).with_for_update()).first()
            if row is None:
                raise _missing(conn, name)
            current = _deployment(row)
            if expected_revision is not None and current.revision != expected_revision:
                raise ConflictError(
                    f"Deployment {name!r} is at revision {current.revision}, not {expected_revision}: it "
                    f"changed since it was read. Read it again (`loopml deploy show {name}`) and retry."
                )
            merged = _checked({**{f: getattr(current, f) for f in FIELDS}, **changes})
            diff = {
                f: {"old": getattr(current, f), "new": merged[f]}
                for f in FIELDS
                if merged[f] != getattr(current, f)
            }
            if not diff:
                return current
            new = replace(
                current,
                **merged,
                revision=current.revision + 1,
                updated_ms=at_ms,
                updated_by=actor,
                reason=reason,
            )
            values = {k: v for k, v in _deployment_row(new).items() if k not in ("id", "name", "model")}
            done = conn.execute(
                t.deployments.update()
                .where(_D.id == current.id, _D.revision == current.revision)
                .values(**values)
            ).rowcount
            if done != 1:  # the row lock makes this unreachable; the guard keeps the write a CAS regardless
                raise ConflictError(f"Deployment {name!r} changed during the update; retry.")
            conn.execute(t.deployment_revisions.insert(), _revision_row(new))
            _audit(
                conn,
                at_ms=at_ms,
                actor=actor,
                action="deployment.set",
                entity_type="deployment",
                entity=name,
                reason=reason,
                details={"model": current.model, "revision": new.revision, "changes": diff},
            )
            return new

        return self._store.write(write)

    # -- reading
    def get(self, name: str) -> Deployment:
        """The current revision; ``NotFoundError`` naming the deployments that exist."""
        with self._store.read() as conn:
            row = conn.execute(select(t.deployments).where(_D.name == name)).first()
            if row is None:
                raise _missing(conn, name)
        return _deployment(row)

    # the methods after this one write builtins.list: here `list` is the method
    def list(self, model: str | None = None) -> list[Deployment]:
        """Every deployment (of ``model``) at its current revision, by name."""
        query = select(t.deployments)
        if model is not None:
            query = query.where(_D.model == model)
        with self._store.read() as conn:
            return [_deployment(r) for r in conn.execute(query.order_by(_D.name))]

    def history(self, name: str) -> builtins.list[Deployment]:
        """Every revision, oldest first."""
        with self._store.read() as conn:
            row = conn.execute(select(t.deployments).where(_D.name == name)).first()
            if row is None:
                raise _missing(conn, name)
            revisions = conn.execute(
                select(t.deployment_revisions).where(_R.deployment_id == row.id).order_by(_R.revision)
            ).all()
        current = _deployment(row)
        return [
            replace(
                current,
                champion=r.champion,
                canary=r.canary,
                canary_percent=float(r.canary_percent),
                shadow=r.shadow,
                sticky=r.sticky,
                revision=r.revision,
                updated_ms=r.updated_ms,
                updated_by=r.updated_by,
                reason=r.reason,
            )
            for r in revisions
        ]


class SqlLoopRepository:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._insert = store.upsert_insert

    # -- leases
    def acquire_lease(self, model: str, holder: str, *, now_ms: int, ttl_ms: int) -> bool:
        """Take (or renew) the lease on ``model`` for ``holder`` until ``now_ms + ttl_ms``: True when it is
        free, expired (``expires_ms < now_ms``), or ``holder``'s already; False while another's is live."""
        _check_name(model, "a lease's model")
        if not holder or len(holder) > _HOLDER_LENGTH:
            raise InvalidArgumentError(
                f"a lease's holder is 1 to {_HOLDER_LENGTH} characters (got {holder!r})."
            )
        if ttl_ms <= 0:
            raise InvalidArgumentError(f"a lease's ttl_ms must be positive (got {ttl_ms}).")
        expires = now_ms + ttl_ms

        def write(conn: Connection) -> bool:
            # one statement: PostgreSQL re-checks the WHERE on the row a concurrent taker just committed
            taken = conn.execute(
                t.loop_leases.update()
                .where(_L.model == model, (_L.holder == holder) | (_L.expires_ms < now_ms))
                .values(holder=holder, expires_ms=expires)
            ).rowcount
            if taken == 1:
                return True
            # no row, or another's live one: the primary key lets exactly one concurrent insert through
            # (RETURNING says whether it did: psycopg reports no row count for INSERT ... ON CONFLICT)
            inserted = conn.execute(
                self._insert(t.loop_leases)
                .values(model=model, holder=holder, expires_ms=expires)
                .on_conflict_do_nothing(index_elements=["model"])
                .returning(_L.model)
            ).first()
            return inserted is not None

        return self._store.write(write)

    def release_lease(self, model: str, holder: str) -> None:
        """Give the lease up (only ``holder``'s own; another's is left alone)."""
        self._store.write(
            lambda conn: conn.execute(t.loop_leases.delete().where(_L.model == model, _L.holder == holder))
        )

    def lease(self, model: str) -> Lease | None:
        """The stored lease of ``model``, live or expired (compare ``expires_ms`` with now), or None."""
        with self._store.read() as conn:
            row = conn.execute(select(t.loop_leases).where(_L.model == model)).first()
        return None if row is None else Lease(row.model, row.holder, row.expires_ms)

    # -- state
    def get_state(self, model: str) -> LoopState:
        """The stored state, or a fresh ``LoopState(model)`` (revision 0) for a model never written."""
        with self._store.read() as conn:
            row = conn.execute(select(t.loop_states).where(_S.model == model)).first()
        return LoopState(model) if row is None else _state(row)

    def put_state(self, state: LoopState, *, at_ms: int) -> LoopState:
        """Write ``state`` if the stored revision is still ``state.revision`` (0: none stored); returns it
        with the next revision and ``updated_ms = at_ms``. Otherwise ``ConflictError``, nothing written."""
        _check_name(state.model, "a loop state's model")
        if state.stage not in LOOP_STAGES:
            raise InvalidArgumentError(
                f"a loop's stage is one of {', '.join(LOOP_STAGES)} (got {state.stage!r})."
            )
        if state.candidate is not None and (
            isinstance(state.candidate, bool) or not isinstance(state.candidate, int)
        ):
            raise InvalidArgumentError(
                f"a loop's candidate is a version number or None (got {state.candidate!r})."
            )
        try:
            data: dict[str, Any] = json.loads(json.dumps(dict(state.data), sort_keys=True, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(
                f"the loop state's data of {state.model!r} must be JSON (numbers, text, lists, objects): "
                f"{exc}."
            ) from exc
        new = replace(state, data=data, revision=state.revision + 1, updated_ms=at_ms)
        row = {
            "model": new.model,
            "stage": new.stage,
            "paused": bool(new.paused),
            "candidate": new.candidate,
            "data_json": json.dumps(data, sort_keys=True),
            "reason": new.reason,
            "revision": new.revision,
            "updated_ms": at_ms,
        }

        def write(conn: Connection) -> int:
            if state.revision == 0:
                inserted = conn.execute(
                    self._insert(t.loop_states)
                    .values(**row)
                    .on_conflict_do_nothing(index_elements=["model"])
                    .returning(_S.model)
                ).first()
                return 0 if inserted is None else 1
            return int(
                conn.execute(
                    t.loop_states.update()
                    .where(_S.model == state.model, _S.revision == state.revision)
                    .values(**row)
                ).rowcount
            )

        if self._store.write(write) != 1:
            stored = self.get_state(state.model).revision
            raise ConflictError(
                f"The loop state of {state.model!r} is at revision {stored}, not {state.revision}: another "
                "writer changed it since it was read. Read it again and retry."
            )
        return new

    def states(self) -> builtins.list[LoopState]:
        """Every stored loop state, by model."""
        with self._store.read() as conn:
            return [_state(r) for r in conn.execute(select(t.loop_states).order_by(_S.model))]


def _check_name(value: str, what: str) -> None:
    if not isinstance(value, str) or not value or len(value) > _NAME_LENGTH:
        raise InvalidArgumentError(f"{what} is 1 to {_NAME_LENGTH} characters of text (got {value!r}).")


def _checked(routes: Mapping[str, Any]) -> dict[str, Any]:
    """The route fields as stored: references are non-empty text (None for an absent canary, shadow or
    sticky key; the champion is required), the canary's percent a number in [0, 100]."""
    out: dict[str, Any] = {}
    for field in ("champion", "canary", "shadow", "sticky"):
        value = routes[field]
        if value is None and field != "champion":
            out[field] = None
            continue
        limit = _STICKY_LENGTH if field == "sticky" else _REF_LENGTH
        if not isinstance(value, str) or not value or len(value) > limit:
            absent = "" if field == "champion" else " (or None)"
            raise InvalidArgumentError(
                f"a deployment's {field} is 1 to {limit} characters of text{absent} (got {value!r})."
            )
        out[field] = value
    percent = routes["canary_percent"]
    if (
        isinstance(percent, bool)
        or not isinstance(percent, numbers.Real)
        or math.isnan(float(percent))
        or not 0 <= float(percent) <= 100
    ):
        raise InvalidArgumentError(
            f"a deployment's canary_percent is a number from 0 to 100 (got {percent!r})."
        )
    out["canary_percent"] = float(percent)
    return out


def _taken(name: str) -> ConflictError:
    return ConflictError(
        f"A deployment named {name!r} exists; change it with `loopml deploy set {name} ...` or pick "
        "another name."
    )


def _missing(conn: Connection, name: str) -> NotFoundError:
    names = [r[0] for r in conn.execute(select(_D.name).order_by(_D.name))]
    have = ", ".join(names) if names else "none yet"
    return NotFoundError(
        f"No deployment named {name!r} (deployments: {have}); create one with "
        f"`loopml deploy create {name} --model MODEL`."
    )


def _deployment_row(d: Deployment) -> dict[str, Any]:
    """A revision as the columns of a row: the entity's fields have the columns' names."""
    return dataclasses.asdict(d)


def _revision_row(d: Deployment) -> dict[str, Any]:
    return {
        "deployment_id": d.id,
        "revision": d.revision,
        "champion": d.champion,
        "canary": d.canary,
        "canary_percent": d.canary_percent,
        "shadow": d.shadow,
        "sticky": d.sticky,
        "updated_ms": d.updated_ms,
        "updated_by": d.updated_by,
        "reason": d.reason,
    }


def _deployment(row: Row[Any]) -> Deployment:
    return Deployment(
        id=row.id,
        name=row.name,
        model=row.model,
        champion=row.champion,
        canary=row.canary,
        canary_percent=float(row.canary_percent),
        shadow=row.shadow,
        sticky=row.sticky,
        revision=row.revision,
        created_ms=row.created_ms,
        updated_ms=row.updated_ms,
        updated_by=row.updated_by,
        reason=row.reason,
    )


def _state(row: Row[Any]) -> LoopState:
    return LoopState(
        model=row.model,
        stage=row.stage,
        paused=bool(row.paused),
        candidate=row.candidate,
        data=json.loads(row.data_json),
        reason=row.reason,
        revision=row.revision,
        updated_ms=row.updated_ms,
    )
