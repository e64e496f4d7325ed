"""Experiments and runs in SQL: the ``store.runs`` repository of SqlStore."""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    bindparam,
    exists,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from loopml.errors import ConflictError, InvalidArgumentError, NotFoundError
from loopml.store import _schema as t
from loopml.store._entities import Artifact, Experiment, Metric, MetricRecord, Run, RunStatus
from loopml.store._filter import BoolOp, Comparison, Expr, OrderBy, parse_filter, parse_order_by

if TYPE_CHECKING:
    from loopml.store._sql import SqlStore

_CHUNK = 500  # ids per IN (...) when loading many runs at once


def _now_ms() -> int:
    return int(time.time() * 1000)


def _as_number(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


class SqlRunRepository:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        self._upsert_insert = store.upsert_insert

    # -- experiments
    def create_experiment(self, name: str, description: str = "") -> Experiment:
        exp = Experiment(uuid.uuid4().hex, name, description, _now_ms())

        def insert(conn: Connection) -> None:
            if conn.execute(select(t.experiments.c.id).where(t.experiments.c.name == name)).first():
                raise ConflictError(f"Experiment {name!r} already exists.")
            conn.execute(
                t.experiments.insert().values(
                    id=exp.id, name=name, description=description, created_ms=exp.created_ms
                )
            )

        self._store.write(insert)
        return exp

    def get_experiment(self, id_or_name: str) -> Experiment:
        c = t.experiments.c
        with self._store.read() as conn:
            row = conn.execute(
                select(t.experiments).where(or_(c.name == id_or_name, c.id == id_or_name))
            ).first()
        if row is None:
            raise NotFoundError(
                f"No experiment named {id_or_name!r}. List them with `loopml experiments ls`."
            )
        return Experiment(row.id, row.name, row.description, row.created_ms)

    def get_or_create_experiment(self, name: str) -> Experiment:
        try:
            return self.get_experiment(name)
        except NotFoundError:
            pass
        try:
            return self.create_experiment(name)
        except (ConflictError, SqlIntegrityError):  # another process created it meanwhile
            return self.get_experiment(name)

    def list_experiments(self) -> list[tuple[Experiment, int]]:
        counts = (
            select(t.runs.c.experiment_id, func.count().label("n"))
            .group_by(t.runs.c.experiment_id)
            .subquery()
        )
        query = (
            select(t.experiments, func.coalesce(counts.c.n, 0).label("n"))
            .outerjoin(counts, counts.c.experiment_id == t.experiments.c.id)
            .order_by(t.experiments.c.created_ms, t.experiments.c.name)
        )
        with self._store.read() as conn:
            return [
                (Experiment(r.id, r.name, r.description, r.created_ms), int(r.n)) for r in conn.execute(query)
            ]

    # -- runs
    def create_run(
        self,
        experiment_id: str,
        *,
        name: str | None = None,
        start_ms: int,
        parent_id: str | None = None,
        user: str = "",
        git_commit: str | None = None,
        git_dirty: bool | None = None,
        entry_point: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Run:
        run_id = uuid.uuid4().hex
        run = Run(
            id=run_id,
            experiment_id=experiment_id,
            experiment_name="",
            name=name or f"run-{run_id[:8]}",
            status=RunStatus.RUNNING,
            start_ms=start_ms,
            end_ms=None,
            parent_id=parent_id,
            user=user,
            git_commit=git_commit,
            git_dirty=git_dirty,
            entry_point=entry_point,
            error=None,
            tags=dict(tags or {}),
        )

        def insert(conn: Connection) -> str:
            exp = conn.execute(
                select(t.experiments.c.name).where(t.experiments.c.id == experiment_id)
            ).scalar()
            if exp is None:
                raise NotFoundError(f"No experiment with id {experiment_id!r}.")
            if (
                parent_id is not None
                and not conn.execute(select(t.runs.c.id).where(t.runs.c.id == parent_id)).first()
            ):
                raise NotFoundError(f"No parent run with id {parent_id!r}.")
            conn.execute(t.runs.insert(), _run_row(run))
            if tags:
                conn.execute(
                    t.tags.insert(), [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
                )
            return str(exp)

        return replace(run, experiment_name=self._store.write(insert))

    def end_run(self, run_id: str, status: RunStatus, end_ms: int, error: str | None = None) -> None:
        def update(conn: Connection) -> None:
            result = conn.execute(
                t.runs.update()
                .where(t.runs.c.id == run_id)
                .values(status=RunStatus(status).value, end_ms=end_ms, error=error)
            )
            if result.rowcount == 0:
                raise NotFoundError(f"No run with id {run_id!r}.")

        self._store.write(update)

    def get_run(self, run_id: str) -> Run:
        runs = self._load_runs([run_id], with_artifacts=True)
        if not runs:
            raise NotFoundError(f"No run with id {run_id!r}. Find runs with `loopml runs ls`.")
        return runs[0]

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[Run]:
        if limit < 0 or offset < 0:
            raise InvalidArgumentError("limit and offset must not be negative.")
        expr = parse_filter(filter)
        orders = parse_order_by(order_by)
        query = _select_runs()
        if experiment_ids is not None:
            query = query.where(t.runs.c.experiment_id.in_(list(experiment_ids)))
        if expr is not None:
            query = query.where(_compile(expr))
        query, order_cols = _apply_order(query, orders)
        query = query.order_by(*order_cols, t.runs.c.start_ms.desc(), t.runs.c.id).limit(limit).offset(offset)
        with self._store.read() as conn:
            return self._with_details(conn, conn.execute(query).all())

    def _load_runs(self, ids: Sequence[str], with_artifacts: bool = False) -> list[Run]:
        """Load runs with their details, in the order of ``ids`` (a run deleted meanwhile is left out)."""
        rows: dict[str, Any] = {}
        with self._store.read() as conn:
            for chunk in _chunks(ids):
                rows.update((row[0], row) for row in conn.execute(_BY_IDS, {"ids": chunk}))
            return self._with_details(conn, [rows[i] for i in ids if i in rows], with_artifacts)

    @staticmethod
    def _with_details(conn: Connection, rows: Sequence[Any], with_artifacts: bool = False) -> list[Run]:
        """Runs from rows of ``_select_runs()``, with their params, tags, latest metrics (and artifacts)."""
        ids = [row[0] for row in rows]
        params: dict[str, dict[str, str]] = {i: {} for i in ids}
        tags: dict[str, dict[str, str]] = {i: {} for i in ids}
        metrics: dict[str, dict[str, float]] = {i: {} for i in ids}
        artifacts: dict[str, list[Artifact]] = {i: [] for i in ids}
        for chunk in _chunks(ids):
            for run_id, key, value in conn.execute(_PARAMS_BY_IDS, {"ids": chunk}):
                params[run_id][key] = value
            for run_id, key, value in conn.execute(_TAGS_BY_IDS, {"ids": chunk}):
                tags[run_id][key] = value
            for run_id, key, number in conn.execute(_METRICS_BY_IDS, {"ids": chunk}):
                metrics[run_id][key] = math.nan if number is None else number
            if with_artifacts:
                for run_id, *fields in conn.execute(_ARTIFACTS_BY_IDS, {"ids": chunk}):
                    artifacts[run_id].append(Artifact(*fields))
        return [
            Run(
                id=i,
                experiment_id=exp_id,
                experiment_name=exp_name,
                name=name,
                status=RunStatus(status),
                start_ms=start_ms,
                end_ms=end_ms,
                parent_id=parent_id,
                user=user,
                git_commit=commit,
                git_dirty=dirty,
                entry_point=entry_point,
                error=error,
                params=params[i],
                tags=tags[i],
                metrics=metrics[i],
                artifacts=artifacts[i],
            )
            for (
                i,
                exp_id,
                exp_name,
                name,
                status,
                start_ms,
                end_ms,
                parent_id,
                user,
                commit,
                dirty,
                entry_point,
                error,
            ) in rows
        ]

    # -- what runs record
    def log_params(self, run_id: str, params: Mapping[str, str]) -> None:
        if not params:
            return
        items = {k: str(v) for k, v in params.items()}

        def insert(conn: Connection) -> None:
            self._require_run(conn, run_id)
            pc = t.params.c
            existing = dict(
                conn.execute(
                    select(pc.key, pc.value).where(pc.run_id == run_id, pc.key.in_(list(items)))
                ).all()
            )
            for key, value in items.items():
                if key in existing and existing[key] != value:
                    raise ConflictError(
                        f"Param {key!r} of run {run_id} is already {existing[key]!r}; params are write-once, "
                        f"so it cannot become {value!r}. Log a new key or start a new run."
                    )
            new = [
                {"run_id": run_id, "key": k, "value": v, "value_num": _as_number(v)}
                for k, v in items.items()
                if k not in existing
            ]
            if new:
                conn.execute(t.params.insert(), new)

        self._store.write(insert)

    def set_tags(self, run_id: str, tags: Mapping[str, str]) -> None:
        if not tags:
            return

        def upsert(conn: Connection) -> None:
            self._require_run(conn, run_id)
            stmt = self._upsert_insert(t.tags)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["run_id", "key"], set_={"value": stmt.excluded.value}
                ),
                [{"run_id": run_id, "key": k, "value": str(v)} for k, v in tags.items()],
            )

        self._store.write(upsert)

    def delete_tag(self, run_id: str, key: str) -> None:
        def delete(conn: Connection) -> None:
            self._require_run(conn, run_id)
            conn.execute(t.tags.delete().where(t.tags.c.run_id == run_id, t.tags.c.key == key))

        self._store.write(delete)

    def log_metrics(self, records: Sequence[MetricRecord]) -> None:
        if not records:
            return
        rows: list[dict[str, Any]] = [
            {
                "run_id": m.run_id,
                "key": m.key,
                "value": None if math.isnan(m.value) else m.value,
                "step": m.step,
                "timestamp_ms": m.timestamp_ms,
            }
            for m in records
        ]
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:
            ident = (row["run_id"], row["key"])
            seen = latest.get(ident)
            if seen is None or (row["step"], row["timestamp_ms"]) >= (seen["step"], seen["timestamp_ms"]):
                latest[ident] = row
        stmt = self._upsert_insert(t.latest_metrics)
        cur, new = t.latest_metrics.c, stmt.excluded
        upsert = stmt.on_conflict_do_update(
            index_elements=["run_id", "key"],
            set_={"value": new.value, "step": new.step, "timestamp_ms": new.timestamp_ms},
            where=or_(new.step > cur.step, and_(new.step == cur.step, new.timestamp_ms >= cur.timestamp_ms)),
        )

        def insert(conn: Connection) -> None:
            conn.execute(t.metrics.insert(), rows)
            conn.execute(upsert, list(latest.values()))

        try:
            self._store.write(insert)
        except SqlIntegrityError as exc:
            missing = sorted({m.run_id for m in records})
            raise NotFoundError(f"Cannot log metrics: no run among {missing}.") from exc

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        c = t.metrics.c
        query = (
            select(c.key, c.value, c.step, c.timestamp_ms)
            .where(c.run_id == run_id, c.key == key)
            .order_by(c.step, c.timestamp_ms, c.id)
        )
        with self._store.read() as conn:
            self._require_run(conn, run_id)
            return [
                Metric(m.key, math.nan if m.value is None else m.value, m.step, m.timestamp_ms)
                for m in conn.execute(query)
            ]

    def add_artifact(self, run_id: str, artifact: Artifact) -> None:
        def upsert(conn: Connection) -> None:
            self._require_run(conn, run_id)
            stmt = self._upsert_insert(t.run_artifacts)
            row = {
                "run_id": run_id,
                "path": artifact.path,
                "digest": artifact.digest,
                "size": artifact.size,
                "kind": artifact.kind,
                "created_ms": artifact.created_ms,
            }
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["run_id", "path"],
                    set_={k: stmt.excluded[k] for k in ("digest", "size", "kind", "created_ms")},
                ),
                row,
            )

        self._store.write(upsert)

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        a = t.run_artifacts.c
        with self._store.read() as conn:
            self._require_run(conn, run_id)
            return [
                Artifact(r.path, r.digest, r.size, r.kind, r.created_ms)
                for r in conn.execute(select(t.run_artifacts).where(a.run_id == run_id).order_by(a.path))
            ]

    def referenced_digests(self) -> Iterator[str]:
        with self._store.read() as conn:
            rows = conn.execute(select(t.run_artifacts.c.digest).distinct()).all()
        for row in rows:
            yield row[0]

    @staticmethod
    def _require_run(conn: Connection, run_id: str) -> None:
        if conn.execute(select(t.runs.c.id).where(t.runs.c.id == run_id)).first() is None:
            raise NotFoundError(f"No run with id {run_id!r}. Find runs with `loopml runs ls`.")


def _run_row(run: Run) -> dict[str, Any]:
    """The ``runs`` table row of a run (its params, tags, metrics and artifacts live in other tables)."""
    return {
        "id": run.id,
        "experiment_id": run.experiment_id,
        "name": run.name,
        "status": run.status.value,
        "start_ms": run.start_ms,
        "end_ms": run.end_ms,
        "parent_id": run.parent_id,
        "user_name": run.user,
        "git_commit": run.git_commit,
        "git_dirty": run.git_dirty,
        "entry_point": run.entry_point,
        "error": run.error,
    }


def _select_runs() -> Any:
    """Run rows with their experiment's name, columns in the order of ``Run``'s fields."""
    r = t.runs.c
    return select(
        r.id, r.experiment_id, t.experiments.c.name, r.name, r.status, r.start_ms, r.end_ms, r.parent_id,
        r.user_name, r.git_commit, r.git_dirty, r.entry_point, r.error,
    ).join(t.experiments, t.experiments.c.id == r.experiment_id)  # fmt: skip


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


# Compiled once and cached by SQLAlchemy: an expanding IN takes any number of ids.
_IDS: Any = bindparam("ids", expanding=True)
_BY_IDS = _select_runs().where(t.runs.c.id.in_(_IDS))
_PARAMS_BY_IDS = select(t.params.c.run_id, t.params.c.key, t.params.c.value).where(
    t.params.c.run_id.in_(_IDS)
)
_TAGS_BY_IDS = select(t.tags.c.run_id, t.tags.c.key, t.tags.c.value).where(t.tags.c.run_id.in_(_IDS))
_METRICS_BY_IDS = select(t.latest_metrics.c.run_id, t.latest_metrics.c.key, t.latest_metrics.c.value).where(
    t.latest_metrics.c.run_id.in_(_IDS)
)
_ARTIFACTS_BY_IDS = (
    select(*(t.run_artifacts.c[k] for k in ("run_id", "path", "digest", "size", "kind", "created_ms")))
    .where(t.run_artifacts.c.run_id.in_(_IDS))
    .order_by(t.run_artifacts.c.path)
)


# -- filter compilation

_ATTRIBUTE_COLUMNS = {
    "id": t.runs.c.id,
    "name": t.runs.c.name,
    "status": t.runs.c.status,
    "parent_id": t.runs.c.parent_id,
    "user": t.runs.c.user_name,
    "git_commit": t.runs.c.git_commit,
    "entry_point": t.runs.c.entry_point,
    "experiment_id": t.runs.c.experiment_id,
    "start_time": t.runs.c.start_ms,
    "end_time": t.runs.c.end_ms,
}


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    match op:
        case "=":
            return column == value  # type: ignore[no-any-return]
        case "!=":
            return column != value  # type: ignore[no-any-return]
        case "<":
            return column < value  # type: ignore[no-any-return]
        case "<=":
            return column <= value  # type: ignore[no-any-return]
        case ">":
            return column > value  # type: ignore[no-any-return]
        case ">=":
            return column >= value  # type: ignore[no-any-return]
        case "like":
            return column.like(value)  # type: ignore[no-any-return]
        case "ilike":
            return column.ilike(value)  # type: ignore[no-any-return]
        case "not like":
            return column.not_like(value)  # type: ignore[no-any-return]
        case "not ilike":
            return column.not_ilike(value)  # type: ignore[no-any-return]
        case "in":
            return column.in_(list(value))  # type: ignore[no-any-return]
        case "not in":
            return column.not_in(list(value))  # type: ignore[no-any-return]
    raise InvalidArgumentError(f"Unknown operator {op!r}")


def _compile(expr: Expr) -> ColumnElement[bool]:
    if isinstance(expr, BoolOp):
        parts = [_compile(item) for item in expr.items]
        return and_(*parts) if expr.op == "and" else or_(*parts)
    return _compile_comparison(expr)


def _compile_comparison(c: Comparison) -> ColumnElement[bool]:
    if c.entity == "attributes":
        column = _ATTRIBUTE_COLUMNS[c.key]
        if c.op == "is null":
            return column.is_(None)
        if c.op == "is not null":
            return column.is_not(None)
        value: Any = c.value
        if c.key == "status":
            value = tuple(str(v).upper() for v in value) if isinstance(value, tuple) else str(value).upper()
        return _compare(column, c.op, value)

    table = {"metrics": t.latest_metrics, "params": t.params, "tags": t.tags}[c.entity]
    has_key = and_(table.c.run_id == t.runs.c.id, table.c.key == c.key)
    if c.op == "is null":
        return ~exists().where(has_key)
    if c.op == "is not null":
        return exists().where(has_key)
    if c.entity == "metrics":
        condition = _compare(table.c.value, c.op, c.value)
    elif c.entity == "params" and isinstance(c.value, float):
        condition = _compare(table.c.value_num, c.op, c.value)
    elif isinstance(c.value, tuple):
        texts = [_number_text(v) if isinstance(v, float) else v for v in c.value]
        condition = _compare(table.c.value, c.op, texts) if texts else false()
    else:
        condition = _compare(table.c.value, c.op, c.value)
    return exists().where(has_key, condition)


def _apply_order(query: Any, orders: list[OrderBy]) -> tuple[Any, list[Any]]:
    columns: list[Any] = []
    for n, order in enumerate(orders):
        if order.entity == "attributes":
            column = _ATTRIBUTE_COLUMNS[order.key]
            columns.append(column.desc() if order.descending else column.asc())
            continue
        table = {"metrics": t.latest_metrics, "params": t.params, "tags": t.tags}[order.entity]
        alias = table.alias(f"order_{n}")
        query = query.outerjoin(alias, and_(alias.c.run_id == t.runs.c.id, alias.c.key == order.key))
        keys = [alias.c.value_num, alias.c.value] if order.entity == "params" else [alias.c.value]
        for key in keys:
            columns.append((key.desc() if order.descending else key.asc()).nulls_last())
    return query, columns
