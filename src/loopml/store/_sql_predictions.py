"""The prediction log in SQL: the ``store.predictions`` repository of SqlStore.

The logged rows themselves live in Parquet segments in the blob store; this repository keeps their index (a
row per segment, with its time range, versions and routes, so a window reads only the segments it needs) and
the labels that arrive later for a request id; each segment also names the blob of its profiles and counts
its error rows. Recording the same segment twice (a retry after the index write
failed) keeps one row, so a segment is never counted twice.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Row, bindparam, cast, exists, func, select
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from loopml.errors import ConflictError, InvalidArgumentError
from loopml.store import _schema as t
from loopml.store._prediction_entities import PredictionLabel, PredictionSegment

if TYPE_CHECKING:
    from loopml.store._sql import SqlStore

_S = t.prediction_segments.c
_L = t.prediction_labels.c
_CHUNK = 500  # rows per INSERT and ids per DELETE: well under every database's limit on bound parameters


class SqlPredictionRepository:
    def __init__(self, store: SqlStore) -> None:
        self._store = store
        insert = store.upsert_insert
        self._insert_segment = insert(t.prediction_segments).on_conflict_do_nothing(
            index_elements=["model", "digest"]
        )
        labels = insert(t.prediction_labels)
        # a label replaces the one stored for the request unless that one is newer
        self._upsert_labels = labels.on_conflict_do_update(
            index_elements=["model", "request_id"],
            set_={"label_json": labels.excluded.label_json, "at_ms": labels.excluded.at_ms},
            where=t.prediction_labels.c.at_ms <= labels.excluded.at_ms,
        )

    # -- segments
    def add_segment(
        self,
        model: str,
        *,
        digest: str,
        num_rows: int,
        min_ts: int,
        max_ts: int,
        versions: Iterable[int],
        routes: Iterable[str],
        created_ms: int,
        profile_digest: str | None = None,
        error_rows: int = 0,
    ) -> PredictionSegment:
        """Index a segment blob (and its profile blob); the same digest again for the same model returns the
        segment there."""
        if num_rows < 0 or min_ts > max_ts or not 0 <= error_rows <= num_rows:
            raise InvalidArgumentError(
                "a prediction segment needs num_rows >= 0, min_ts <= max_ts and 0 <= error_rows <= num_rows "
                f"(got {num_rows}, {min_ts}..{max_ts}, {error_rows} error rows)."
            )
        row = {
            "id": _segment_id(),
            "model": model,
            "digest": digest,
            "num_rows": num_rows,
            "min_ts": min_ts,
            "max_ts": max_ts,
            "versions_json": json.dumps(sorted({int(v) for v in versions})),
            "routes_json": json.dumps(sorted({str(r) for r in routes})),
            "created_ms": created_ms,
            "profile_digest": profile_digest,
            "error_rows": error_rows,
        }

        def write(conn: Connection) -> PredictionSegment:
            conn.execute(self._insert_segment, row)
            stored = conn.execute(
                select(t.prediction_segments).where(_S.model == model, _S.digest == digest)
            ).one()
            return _segment(stored)

        return self._store.write(write)

    def segments(
        self, model: str, since_ms: int | None = None, until_ms: int | None = None
    ) -> list[PredictionSegment]:
        """The segments of ``model`` holding rows timed in [since_ms, until_ms), oldest first."""
        query = select(t.prediction_segments).where(_S.model == model)
        if since_ms is not None:
            query = query.where(_S.max_ts >= since_ms)
        if until_ms is not None:
            query = query.where(_S.min_ts < until_ms)
        with self._store.read() as conn:
            rows = conn.execute(query.order_by(_S.min_ts, _S.id)).all()
        return [_segment(r) for r in rows]

    def replace_segments(
        self, model: str, old_ids: Sequence[str], new: Sequence[PredictionSegment]
    ) -> list[PredictionSegment]:
        """Swap segments for others holding the same rows (compaction), in one transaction."""
        rows = [
            {
                "id": s.id,
                "model": model,
                "digest": s.digest,
                "num_rows": s.num_rows,
                "min_ts": s.min_ts,
                "max_ts": s.max_ts,
                "versions_json": json.dumps(sorted(s.versions)),
                "routes_json": json.dumps(sorted(s.routes)),
                "created_ms": s.created_ms,
                "profile_digest": s.profile_digest,
                "error_rows": s.error_rows,
            }
            for s in new
        ]

        def write(conn: Connection) -> list[PredictionSegment]:
            ids = list(dict.fromkeys(old_ids))
            deleted = 0
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i : i + _CHUNK]
                gone = conn.execute(t.prediction_segments.delete().where(_S.model == model, _S.id.in_(chunk)))
                deleted += gone.rowcount
            if deleted != len(ids):  # another compaction got there first: its rows must not count twice
                raise ConflictError(
                    f"{len(ids) - deleted} of the segments to replace for {model!r} are gone; none changed."
                )
            if rows:
                conn.execute(self._insert_segment, rows)
            digests = [s.digest for s in new]
            stored = conn.execute(
                select(t.prediction_segments).where(_S.model == model, _S.digest.in_(digests))
            ).all()
            return [_segment(r) for r in stored]

        return self._store.write(write)

    def models(self) -> list[str]:
        """The models with logged predictions, by name."""
        with self._store.read() as conn:
            return [r[0] for r in conn.execute(select(_S.model).distinct().order_by(_S.model))]

    # -- labels
    def add_labels(self, model: str, labels: Sequence[tuple[str, Any]], *, at_ms: int) -> int:
        """Store ground truth by request id (JSON values); the newest label of a request wins. Returns how
        many were given (ids need not be known yet: a label may arrive before its segment is written)."""
        latest: dict[str, str] = {}
        for request_id, value in labels:
            try:
                latest[str(request_id)] = json.dumps(value, sort_keys=True)
            except (TypeError, ValueError) as exc:
                raise InvalidArgumentError(
                    f"the label of request {request_id!r} is not JSON ({exc}); send a number, text, "
                    "a list or an object."
                ) from exc
        rows = [
            {"model": model, "request_id": rid, "label_json": value, "at_ms": at_ms}
            for rid, value in latest.items()
        ]

        def write(conn: Connection) -> None:
            for i in range(0, len(rows), _CHUNK):
                conn.execute(self._upsert_labels, rows[i : i + _CHUNK])

        if rows:
            self._store.write(write)
        return len(rows)

    def labels(
        self,
        model: str,
        request_ids: Iterable[str] | None = None,
        *,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> list[PredictionLabel]:
        """The labels of ``model`` (of the given request ids; received in [since_ms, until_ms)), by time.
        The ids go to the database as one JSON array, in one query however many there are (no limit on
        bound parameters to stay under)."""
        query = select(t.prediction_labels).where(_L.model == model)
        if since_ms is not None:
            query = query.where(_L.at_ms >= since_ms)
        if until_ms is not None:
            query = query.where(_L.at_ms < until_ms)
        if request_ids is not None:
            ids = list(dict.fromkeys(str(r) for r in request_ids))
            if not ids:
                return []
            query = query.where(self._one_of(json.dumps(ids)))
        with self._store.read() as conn:
            found = list(conn.execute(query).all())
        found.sort(key=lambda r: (r.at_ms, r.request_id))
        return [PredictionLabel(r.model, r.request_id, json.loads(r.label_json), r.at_ms) for r in found]

    def _one_of(self, ids_json: str) -> ColumnElement[bool]:
        """``request_id IN`` the elements of a JSON array of text, unpacked by the database itself."""
        ids: BindParameter[str] = bindparam("request_ids", ids_json)
        if self._store.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            elements = func.jsonb_array_elements_text(cast(ids, JSONB)).table_valued("value")
        else:
            elements = func.json_each(ids).table_valued("value")
        return _L.request_id.in_(select(elements.c.value))

    def has_labels(self, model: str, *, since_ms: int | None = None) -> bool:
        """Whether ``model`` has any label (received at ``since_ms`` or later)."""
        query = select(_L.request_id).where(_L.model == model)
        if since_ms is not None:
            query = query.where(_L.at_ms >= since_ms)
        with self._store.read() as conn:
            return bool(conn.execute(select(exists(query))).scalar())

    def referenced_digests(self) -> Iterator[str]:
        """The segments' blobs and their profile blobs, for ``loopml gc``."""
        with self._store.read() as conn:
            rows = conn.execute(select(_S.digest, _S.profile_digest)).all()
        for digest, profile_digest in rows:
            yield digest
            if profile_digest is not None:
                yield profile_digest


def _segment_id() -> str:
    """A new segment id that sorts by when it was made: segments with equal times read in write order."""
    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


def _segment(row: Row[Any]) -> PredictionSegment:
    return PredictionSegment(
        id=row.id,
        model=row.model,
        digest=row.digest,
        num_rows=row.num_rows,
        min_ts=row.min_ts,
        max_ts=row.max_ts,
        versions=tuple(json.loads(row.versions_json)),
        routes=tuple(json.loads(row.routes_json)),
        created_ms=row.created_ms,
        profile_digest=row.profile_digest,
        error_rows=row.error_rows,
    )
