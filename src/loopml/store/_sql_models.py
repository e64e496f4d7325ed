"""The model registry in SQL: the ``store.models`` repository, and ``store.audit``, the trail of changes.

Every change that matters (a registration, an alias move, a gate decision) writes its audit event in the same
transaction as the change itself, so the trail can never miss one nor claim one that did not happen.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.errors import NotFoundError
from loopml.store import _schema as t
from loopml.store._model_entities import (
    AuditEvent,
    GateRecord,
    ModelEvaluation,
    ModelVersion,
    RegisteredModel,
)

if TYPE_CHECKING:
    from loopml.store._sql import SqlStore

_M = t.registered_models.c
_V = t.model_versions.c
_A = t.model_aliases.c


def _audit(
    conn: Connection,
    *,
    at_ms: int,
    actor: str,
    action: str,
    entity_type: str,
    entity: str,
    reason: str = "",
    details: Mapping[str, Any] | None = None,
) -> None:
    conn.execute(
        t.audit_events.insert(),
        {
            "at_ms": at_ms,
            "actor": actor,
            "action": action,
            "entity_type": entity_type,
            "entity": entity,
            "reason": reason,
            "details_json": json.dumps(dict(details or {}), sort_keys=True, default=str),
        },
    )


class SqlModelRepository:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._insert = store.upsert_insert

    # -- writing
    def create_version(
        self,
        name: str,
        *,
        bundle_digest: str,
        flavor: str,
        created_ms: int,
        created_by: str,
        source_run_id: str | None = None,
        description: str = "",
        metrics: Mapping[str, float] | None = None,
        datasets: Sequence[str] = (),
        model_description: str = "",
        tags: Mapping[str, str] | None = None,
        reason: str = "",
    ) -> tuple[ModelVersion, bool]:
        """Register a bundle as the next version of ``name`` (the model is created on first use). The same
        bundle again returns its existing version. Returns the version and whether it is new."""

        def write(conn: Connection) -> tuple[str, bool]:
            model_id = conn.execute(select(_M.id).where(_M.name == name)).scalar()
            if model_id is None:
                model_id = uuid.uuid4().hex
                conn.execute(
                    t.registered_models.insert(),
                    {
                        "id": model_id,
                        "name": name,
                        "description": model_description,
                        "created_ms": created_ms,
                        "updated_ms": created_ms,
                    },
                )
            # lock the model's row: concurrent registrations number their versions one after the other
            conn.execute(t.registered_models.update().where(_M.id == model_id).values(updated_ms=created_ms))
            if tags:
                stmt = self._insert(t.registered_model_tags)
                conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["model_id", "key"], set_={"value": stmt.excluded.value}
                    ),
                    [{"model_id": model_id, "key": k, "value": v} for k, v in tags.items()],
                )
            existing = conn.execute(
                select(_V.id).where(_V.model_id == model_id, _V.bundle_digest == bundle_digest)
            ).scalar()
            if existing is not None:
                return str(existing), False
            number = conn.execute(
                select(func.coalesce(func.max(_V.version), 0)).where(_V.model_id == model_id)
            ).scalar_one()
            version_id = uuid.uuid4().hex
            conn.execute(
                t.model_versions.insert(),
                {
                    "id": version_id,
                    "model_id": model_id,
                    "version": int(number) + 1,
                    "bundle_digest": bundle_digest,
                    "flavor": flavor,
                    "source_run_id": source_run_id,
                    "description": description,
                    "metrics_json": json.dumps(dict(metrics or {}), sort_keys=True),
                    "created_ms": created_ms,
                    "created_by": created_by,
                },
            )
            if datasets:
                conn.execute(
                    t.model_version_datasets.insert(),
                    [{"version_id": version_id, "dataset_version_id": d} for d in dict.fromkeys(datasets)],
                )
            _audit(
                conn,
                at_ms=created_ms,
                actor=created_by,
                action="model.register",
                entity_type="model",
                entity=name,
                reason=reason,
                details={
                    "version": int(number) + 1,
                    "bundle_digest": bundle_digest,
                    "source_run_id": source_run_id,
                    "datasets": list(datasets),
                },
            )
            return version_id, True

        try:
            version_id, created = self._store.write(write)
        except SqlIntegrityError:  # another process created the model or took the number first: once more
            version_id, created = self._store.write(write)
        return self.get_version_by_id(version_id), created

    def set_alias(
        self, name: str, alias: str, version: int, *, actor: str, at_ms: int, reason: str = ""
    ) -> ModelVersion:
        """Point ``alias`` at ``version`` (moving it from any other, atomically) and record who and why."""

        def write(conn: Connection) -> str:
            model_id = self._model_id(conn, name)
            version_id = conn.execute(
                select(_V.id).where(_V.model_id == model_id, _V.version == version)
            ).scalar()
            if version_id is None:
                raise NotFoundError(
                    f"Model {name!r} has no version {version}; see `loopml models show {name}`."
                )
            before = conn.execute(
                select(_V.version)
                .join(t.model_aliases, _A.version_id == _V.id)
                .where(_A.model_id == model_id, _A.alias == alias)
            ).scalar()
            stmt = self._insert(t.model_aliases)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["model_id", "alias"], set_={"version_id": stmt.excluded.version_id}
                ),
                {"model_id": model_id, "alias": alias, "version_id": version_id},
            )
            conn.execute(t.registered_models.update().where(_M.id == model_id).values(updated_ms=at_ms))
            _audit(
                conn,
                at_ms=at_ms,
                actor=actor,
                action="alias.set",
                entity_type="model",
                entity=name,
                reason=reason,
                details={"alias": alias, "version": version, "previous": before},
            )
            return str(version_id)

        return self.get_version_by_id(self._store.write(write))

    def delete_alias(self, name: str, alias: str, *, actor: str, at_ms: int, reason: str = "") -> None:
        def write(conn: Connection) -> None:
            model_id = self._model_id(conn, name)
            before = conn.execute(
                select(_V.version)
                .join(t.model_aliases, _A.version_id == _V.id)
                .where(_A.model_id == model_id, _A.alias == alias)
            ).scalar()
            if before is None:
                raise NotFoundError(f"Model {name!r} has no alias {alias!r}.")
            conn.execute(t.model_aliases.delete().where(_A.model_id == model_id, _A.alias == alias))
            _audit(
                conn,
                at_ms=at_ms,
                actor=actor,
                action="alias.delete",
                entity_type="model",
                entity=name,
                reason=reason,
                details={"alias": alias, "previous": before},
            )

        self._store.write(write)

    def add_evaluation(
        self,
        version_id: str,
        evaluation: Mapping[str, Any],
        *,
        created_ms: int,
        dataset_version_id: str | None,
    ) -> ModelEvaluation:
        """Store an evaluation of a version; its overall metrics become the version's metrics."""
        evaluation_id = uuid.uuid4().hex

        def write(conn: Connection) -> None:
            row = conn.execute(select(_V.metrics_json).where(_V.id == version_id)).first()
            if row is None:
                raise NotFoundError(f"No model version with id {version_id!r}.")
            conn.execute(
                t.model_evaluations.insert(),
                {
                    "id": evaluation_id,
                    "version_id": version_id,
                    "dataset_version_id": dataset_version_id,
                    "created_ms": created_ms,
                    "evaluation_json": json.dumps(dict(evaluation), sort_keys=True, default=str),
                },
            )
            metrics = {**json.loads(row[0]), **dict(evaluation.get("metrics", {}))}
            conn.execute(
                t.model_versions.update()
                .where(_V.id == version_id)
                .values(metrics_json=json.dumps(metrics, sort_keys=True))
            )

        self._store.write(write)
        return ModelEvaluation(evaluation_id, version_id, dataset_version_id, created_ms, dict(evaluation))

    def record_gate(
        self,
        *,
        candidate_version_id: str,
        baseline_version_id: str | None,
        passed: bool,
        decision: Mapping[str, Any],
        created_ms: int,
        created_by: str,
        reason: str = "",
    ) -> GateRecord:
        gate_id = uuid.uuid4().hex

        def write(conn: Connection) -> str:
            row = conn.execute(
                select(_V.model_id, _V.version, _M.name)
                .join(t.registered_models, _M.id == _V.model_id)
                .where(_V.id == candidate_version_id)
            ).first()
            if row is None:
                raise NotFoundError(f"No model version with id {candidate_version_id!r}.")
            conn.execute(
                t.gate_decisions.insert(),
                {
                    "id": gate_id,
                    "model_id": row.model_id,
                    "candidate_version_id": candidate_version_id,
                    "baseline_version_id": baseline_version_id,
                    "passed": passed,
                    "decision_json": json.dumps(dict(decision), sort_keys=True, default=str),
                    "created_ms": created_ms,
                    "created_by": created_by,
                },
            )
            _audit(
                conn,
                at_ms=created_ms,
                actor=created_by,
                action="gate.decide",
                entity_type="model",
                entity=row.name,
                reason=reason,
                details={"version": row.version, "passed": passed, "gate_id": gate_id},
            )
            return str(row.model_id)

        model_id = self._store.write(write)
        return GateRecord(
            gate_id,
            model_id,
            candidate_version_id,
            baseline_version_id,
            passed,
            dict(decision),
            created_ms,
            created_by,
        )

    # -- reading
    def get_model(self, name: str) -> RegisteredModel:
        with self._store.read() as conn:
            row = conn.execute(select(t.registered_models).where(_M.name == name)).first()
            if row is None:
                raise NotFoundError(f"No registered model named {name!r}; list them with `loopml models ls`.")
            return self._model(conn, row)

    def list_models(self) -> list[RegisteredModel]:
        with self._store.read() as conn:
            rows = conn.execute(select(t.registered_models).order_by(_M.name)).all()
            return [self._model(conn, r) for r in rows]

    def get_version(self, name: str, version: int) -> ModelVersion:
        found = self._versions(_M.name == name, _V.version == version)
        if not found:
            self.get_model(name)
            raise NotFoundError(f"Model {name!r} has no version {version}; see `loopml models show {name}`.")
        return found[0]

    def get_latest(self, name: str) -> ModelVersion:
        versions = self.list_versions(name)
        if not versions:
            raise NotFoundError(f"Model {name!r} has no versions.")
        return versions[-1]

    def get_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self._store.read() as conn:
            model_id = self._model_id(conn, name)
            version_id = conn.execute(
                select(_A.version_id).where(_A.model_id == model_id, _A.alias == alias)
            ).scalar()
            known = [r[0] for r in conn.execute(select(_A.alias).where(_A.model_id == model_id))]
        if version_id is None:
            have = ", ".join(sorted(known)) or "none"
            raise NotFoundError(
                f"Model {name!r} has no alias {alias!r} (its aliases: {have}); set one with "
                f"`loopml models alias {name} {alias} VERSION`."
            )
        return self.get_version_by_id(str(version_id))

    def get_version_by_id(self, version_id: str) -> ModelVersion:
        found = self._versions(_V.id == version_id)
        if not found:
            raise NotFoundError(f"No model version with id {version_id!r}.")
        return found[0]

    def list_versions(self, name: str) -> list[ModelVersion]:
        self.get_model(name)
        return self._versions(_M.name == name)

    def versions_with_digest(self, bundle_digest: str) -> list[ModelVersion]:
        return self._versions(_V.bundle_digest == bundle_digest)

    def evaluations(self, version_id: str) -> list[ModelEvaluation]:
        e = t.model_evaluations.c
        with self._store.read() as conn:
            rows = conn.execute(
                select(t.model_evaluations).where(e.version_id == version_id).order_by(e.created_ms, e.id)
            ).all()
        return [
            ModelEvaluation(
                r.id, r.version_id, r.dataset_version_id, r.created_ms, json.loads(r.evaluation_json)
            )
            for r in rows
        ]

    def gate_records(self, candidate_version_id: str) -> list[GateRecord]:
        g = t.gate_decisions.c
        with self._store.read() as conn:
            rows = conn.execute(
                select(t.gate_decisions)
                .where(g.candidate_version_id == candidate_version_id)
                .order_by(g.created_ms, g.id)
            ).all()
        return [
            GateRecord(
                r.id,
                r.model_id,
                r.candidate_version_id,
                r.baseline_version_id,
                bool(r.passed),
                json.loads(r.decision_json),
                r.created_ms,
                r.created_by,
            )
            for r in rows
        ]

    def referenced_digests(self) -> Iterator[str]:
        with self._store.read() as conn:
            rows = conn.execute(select(_V.bundle_digest).distinct()).all()
        for row in rows:
            yield row[0]

    # -- helpers
    @staticmethod
    def _model_id(conn: Connection, name: str) -> str:
        model_id = conn.execute(select(_M.id).where(_M.name == name)).scalar()
        if model_id is None:
            raise NotFoundError(f"No registered model named {name!r}; list them with `loopml models ls`.")
        return str(model_id)

    @staticmethod
    def _model(conn: Connection, row: Any) -> RegisteredModel:
        tags = dict(
            conn.execute(
                select(t.registered_model_tags.c.key, t.registered_model_tags.c.value).where(
                    t.registered_model_tags.c.model_id == row.id
                )
            ).all()
        )
        aliases = dict(
            conn.execute(
                select(_A.alias, _V.version)
                .join(t.model_versions, _V.id == _A.version_id)
                .where(_A.model_id == row.id)
            ).all()
        )
        latest = conn.execute(select(func.max(_V.version)).where(_V.model_id == row.id)).scalar()
        return RegisteredModel(
            row.id,
            row.name,
            row.description,
            row.created_ms,
            row.updated_ms,
            {str(k): str(v) for k, v in tags.items()},
            {str(k): int(v) for k, v in aliases.items()},
            None if latest is None else int(latest),
        )

    def _versions(self, *where: Any) -> list[ModelVersion]:
        query = (
            select(t.model_versions, _M.name)
            .join(t.registered_models, _M.id == _V.model_id)
            .where(*where)
            .order_by(_V.version)
        )
        with self._store.read() as conn:
            rows = conn.execute(query).all()
            ids = [r.id for r in rows]
            datasets: dict[str, list[str]] = {}
            aliases: dict[str, list[str]] = {}
            if ids:
                d = t.model_version_datasets.c
                for vid, did in conn.execute(
                    select(d.version_id, d.dataset_version_id).where(d.version_id.in_(ids))
                ):
                    datasets.setdefault(vid, []).append(did)
                for vid, alias in conn.execute(select(_A.version_id, _A.alias).where(_A.version_id.in_(ids))):
                    aliases.setdefault(vid, []).append(alias)
        return [
            ModelVersion(
                id=r.id,
                model_id=r.model_id,
                name=r.name,
                version=r.version,
                bundle_digest=r.bundle_digest,
                flavor=r.flavor,
                source_run_id=r.source_run_id,
                description=r.description,
                created_ms=r.created_ms,
                created_by=r.created_by,
                metrics=json.loads(r.metrics_json),
                datasets=tuple(sorted(datasets.get(r.id, []))),
                aliases=tuple(sorted(aliases.get(r.id, []))),
            )
            for r in rows
        ]


class SqlAuditRepository:
    def __init__(self, store: SqlStore) -> None:
        self._store = store

    def record(
        self,
        *,
        at_ms: int,
        actor: str,
        action: str,
        entity_type: str,
        entity: str,
        reason: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self._store.write(
            lambda conn: _audit(
                conn,
                at_ms=at_ms,
                actor=actor,
                action=action,
                entity_type=entity_type,
                entity=entity,
                reason=reason,
                details=details,
            )
        )

    def events(
        self, entity_type: str | None = None, entity: str | None = None, limit: int = 1000
    ) -> list[AuditEvent]:
        a = t.audit_events.c
        query = select(t.audit_events).order_by(a.at_ms, a.id).limit(limit)
        if entity_type is not None:
            query = query.where(a.entity_type == entity_type)
        if entity is not None:
            query = query.where(a.entity == entity)
        with self._store.read() as conn:
            rows = conn.execute(query).all()
        return [
            AuditEvent(
                r.id,
                r.at_ms,
                r.actor,
                r.action,
                r.entity_type,
                r.entity,
                r.reason,
                json.loads(r.details_json),
            )
            for r in rows
        ]
