"""Datasets and their versions in SQL: the ``store.datasets`` repository of SqlStore."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.errors import NotFoundError
from loopml.store import _schema as t
from loopml.store._dataset_rows import VERSION_COLUMNS, version_from_row
from loopml.store._entities import Dataset, DatasetStatus, DatasetVersion

if TYPE_CHECKING:
    from loopml.store._sql import SqlStore

_V = t.dataset_versions.c
_VERSION_COLUMNS = tuple(t.datasets.c.name if c == "name" else _V[c] for c in VERSION_COLUMNS)


def _select_versions() -> Any:
    return select(*_VERSION_COLUMNS).join(t.datasets, t.datasets.c.id == _V.dataset_id)


class SqlDatasetRepository:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._insert = store.upsert_insert

    # -- writing
    def add_version(
        self,
        name: str,
        *,
        digest: str,
        kind: str,
        num_rows: int,
        num_bytes: int,
        schema: dict[str, Any],
        status: DatasetStatus,
        description: str,
        environment: dict[str, str],
        created_ms: int,
        tags: Sequence[str] = (),
        checks: dict[str, Any] | None = None,
        parents: Sequence[str] = (),
        transform: dict[str, Any] | None = None,
        profile_digest: str | None = None,
    ) -> tuple[DatasetVersion, bool]:
        """Record a version of ``name`` (created on first use); the same content again returns the existing
        version. Returns the version and whether it is new."""
        dataset_id = self._dataset_id(name, description, created_ms)

        def insert(conn: Connection) -> tuple[str, bool]:
            # lock the dataset row so that concurrent adds number their versions one after the other
            conn.execute(select(t.datasets.c.id).where(t.datasets.c.id == dataset_id).with_for_update())
            existing = conn.execute(
                select(_V.id).where(_V.dataset_id == dataset_id, _V.digest == digest)
            ).scalar()
            if existing is not None:
                version_id, created = str(existing), False
            else:
                number = conn.execute(
                    select(func.coalesce(func.max(_V.version), 0)).where(_V.dataset_id == dataset_id)
                ).scalar_one()
                version_id, created = uuid.uuid4().hex, True
                conn.execute(
                    t.dataset_versions.insert().values(
                        id=version_id,
                        dataset_id=dataset_id,
                        version=int(number) + 1,
                        digest=digest,
                        kind=kind,
                        num_rows=num_rows,
                        num_bytes=num_bytes,
                        schema_json=json.dumps(schema, sort_keys=True),
                        status=DatasetStatus(status).value,
                        description=description,
                        environment_json=json.dumps(environment, sort_keys=True),
                        checks_json=None if checks is None else json.dumps(checks, sort_keys=True),
                        transform_json=None if transform is None else json.dumps(transform, sort_keys=True),
                        profile_digest=profile_digest,
                        created_ms=created_ms,
                    )
                )
            if created and parents:
                conn.execute(
                    t.dataset_parents.insert(),
                    [
                        {"version_id": version_id, "position": i, "parent_id": p}
                        for i, p in enumerate(parents)
                    ],
                )
            for tag in tags:
                self._set_tag(conn, dataset_id, tag, version_id)
            return version_id, created

        version_id, created = self._store.write(insert)
        return self._get(_V.id == version_id), created

    def set_profile(self, version_id: str, digest: str) -> DatasetVersion:
        def update(conn: Connection) -> None:
            conn.execute(
                t.dataset_versions.update()
                .where(_V.id == version_id, _V.profile_digest.is_(None))
                .values(profile_digest=digest)
            )

        self._store.write(update)
        return self._get(_V.id == version_id)

    def _dataset_id(self, name: str, description: str, created_ms: int) -> str:
        with self._store.read() as conn:
            found = conn.execute(select(t.datasets.c.id).where(t.datasets.c.name == name)).scalar()
        if found is not None:
            return str(found)
        new_id = uuid.uuid4().hex
        try:
            self._store.write(
                lambda conn: conn.execute(
                    t.datasets.insert().values(
                        id=new_id, name=name, description=description, created_ms=created_ms
                    )
                )
            )
        except SqlIntegrityError:  # another process created it meanwhile
            return self.get_dataset(name).id
        return new_id

    def set_tag(self, name: str, tag: str, version: int) -> DatasetVersion:
        target = self.get_version(name, version)
        self._store.write(lambda conn: self._set_tag(conn, target.dataset_id, tag, target.id))
        return self.get_version(name, version)

    def _set_tag(self, conn: Connection, dataset_id: str, tag: str, version_id: str) -> None:
        stmt = self._insert(t.dataset_tags)
        conn.execute(
            stmt.on_conflict_do_update(index_elements=["dataset_id", "tag"], set_={"version_id": version_id}),
            {"dataset_id": dataset_id, "tag": tag, "version_id": version_id},
        )

    def link_run(self, run_id: str, version_id: str, direction: str) -> None:
        """Record that a run read (``input``) or wrote (``output``) a version; twice is harmless."""
        stmt = self._insert(t.run_datasets).on_conflict_do_nothing()
        self._store.write(
            lambda conn: conn.execute(
                stmt, {"run_id": run_id, "version_id": version_id, "direction": direction}
            )
        )

    # -- reading
    def get_dataset(self, name: str) -> Dataset:
        with self._store.read() as conn:
            row = conn.execute(select(t.datasets).where(t.datasets.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"No dataset named {name!r}. List them with `loopml data ls`.")
        return Dataset(row.id, row.name, row.description, row.created_ms)

    def get_version(self, name: str, version: int) -> DatasetVersion:
        try:
            return self._get(t.datasets.c.name == name, _V.version == version)
        except NotFoundError:
            self.get_dataset(name)  # says so when the dataset itself is missing
            raise NotFoundError(
                f"Dataset {name!r} has no version {version}; see `loopml data show {name}`."
            ) from None

    def find_version(self, name: str, digest: str) -> DatasetVersion | None:
        """The version of ``name`` holding exactly this content, if there is one."""
        found = self._many(_select_versions().where(t.datasets.c.name == name, _V.digest == digest))
        return found[0] if found else None

    def get_latest(self, name: str) -> DatasetVersion:
        """The newest version that is not quarantined."""
        self.get_dataset(name)
        newest = (
            select(func.max(_V.version))
            .join(t.datasets, t.datasets.c.id == _V.dataset_id)
            .where(t.datasets.c.name == name, _V.status == DatasetStatus.OK.value)
            .scalar_subquery()
        )
        try:
            return self._get(t.datasets.c.name == name, _V.version == newest)
        except NotFoundError:
            raise NotFoundError(f"Dataset {name!r} has no version that passed its checks.") from None

    def get_tagged(self, name: str, tag: str) -> DatasetVersion:
        self.get_dataset(name)
        tagged = (
            select(t.dataset_tags.c.version_id)
            .join(t.datasets, t.datasets.c.id == t.dataset_tags.c.dataset_id)
            .where(t.datasets.c.name == name, t.dataset_tags.c.tag == tag)
            .scalar_subquery()
        )
        try:
            return self._get(_V.id == tagged)
        except NotFoundError:
            raise NotFoundError(
                f"Dataset {name!r} has no tag {tag!r}; see `loopml data show {name}`."
            ) from None

    def list_datasets(self) -> list[tuple[Dataset, int]]:
        """Every dataset with its number of versions, by name."""
        counts = select(_V.dataset_id, func.count().label("n")).group_by(_V.dataset_id).subquery()
        query = (
            select(t.datasets, func.coalesce(counts.c.n, 0))
            .outerjoin(counts, counts.c.dataset_id == t.datasets.c.id)
            .order_by(t.datasets.c.name)
        )
        with self._store.read() as conn:
            return [
                (Dataset(r.id, r.name, r.description, r.created_ms), int(r[-1])) for r in conn.execute(query)
            ]

    def list_versions(self, name: str) -> list[DatasetVersion]:
        self.get_dataset(name)
        return self._many(_select_versions().where(t.datasets.c.name == name).order_by(_V.version))

    def run_datasets(self, run_id: str) -> list[tuple[DatasetVersion, str]]:
        """The versions a run read or wrote, with ``input`` or ``output``."""
        rd = t.run_datasets.c
        query = (
            select(*_VERSION_COLUMNS, rd.direction)
            .join(t.datasets, t.datasets.c.id == _V.dataset_id)
            .join(t.run_datasets, rd.version_id == _V.id)
            .where(rd.run_id == run_id)
            .order_by(rd.direction, t.datasets.c.name, _V.version)
        )
        with self._store.read() as conn:
            rows = conn.execute(query).all()
            ids = [r[0] for r in rows]
            tags, parents = self._tags(conn, ids), self._parents(conn, ids)
        return [(version_from_row(r[:-1], tags, parents), r[-1]) for r in rows]

    def referenced_digests(self) -> Iterator[str]:
        with self._store.read() as conn:
            rows = conn.execute(select(_V.digest).distinct()).all()
            profiles = conn.execute(select(_V.profile_digest).where(_V.profile_digest.is_not(None))).all()
        for row in [*rows, *profiles]:
            yield row[0]

    def _get(self, *where: Any) -> DatasetVersion:
        found = self._many(_select_versions().where(*where))
        if not found:
            raise NotFoundError("No such dataset version.")
        return found[0]

    def _many(self, query: Any) -> list[DatasetVersion]:
        with self._store.read() as conn:
            rows = conn.execute(query).all()
            ids = [r[0] for r in rows]
            tags, parents = self._tags(conn, ids), self._parents(conn, ids)
        return [version_from_row(r, tags, parents) for r in rows]

    @staticmethod
    def _parents(conn: Connection, version_ids: list[str]) -> dict[str, list[str]]:
        pc = t.dataset_parents.c
        return _grouped(conn, pc.version_id, pc.parent_id, pc.position, version_ids)

    def get_by_id(self, version_id: str) -> DatasetVersion:
        return self._get(_V.id == version_id)

    @staticmethod
    def _tags(conn: Connection, version_ids: list[str]) -> dict[str, list[str]]:
        tc = t.dataset_tags.c
        return _grouped(conn, tc.version_id, tc.tag, tc.tag, version_ids)


def _grouped(conn: Connection, key: Any, value: Any, order: Any, keys: list[str]) -> dict[str, list[str]]:
    """``value`` of every row whose ``key`` is among ``keys``, grouped by key and in ``order``."""
    grouped: dict[str, list[str]] = {}
    if keys:
        for k, v in conn.execute(select(key, value).where(key.in_(keys)).order_by(order)):
            grouped.setdefault(k, []).append(v)
    return grouped
