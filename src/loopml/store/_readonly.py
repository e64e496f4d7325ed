"""Quick read-only lookups in a SQLite metadata database, with the standard library's ``sqlite3`` alone.

Opening the Store loads SQLAlchemy and checks the schema's migrations, which costs far more than a lookup of
one row. A command that only needs to find something may ask here first. Each lookup answers only when it is
certain, and returns None otherwise — another database than a SQLite file, a schema at another revision than
this loopml's, nothing found, or any error — so that the caller then takes the ordinary way through the Store.
Nothing is written, and a missing database is not created.
"""

from __future__ import annotations

import sqlite3

from loopml.store._dataset_entities import DatasetVersion
from loopml.store._dataset_rows import VERSION_COLUMNS, version_from_row
from loopml.store._revisions import HEAD

_SELECT_VERSION = (
    "SELECT "
    + ", ".join(f"d.{c}" if c == "name" else f"v.{c}" for c in VERSION_COLUMNS)
    + " FROM dataset_versions v JOIN datasets d ON d.id = v.dataset_id WHERE d.name = ? AND v.digest = ?"
)
_SELECT_TAGS = "SELECT tag FROM dataset_tags WHERE version_id = ? ORDER BY tag"
_SELECT_PARENTS = "SELECT parent_id FROM dataset_parents WHERE version_id = ? ORDER BY position"


def sqlite_file(database_url: str) -> str | None:
    """The file of a ``sqlite:///PATH`` URL as settings give it; None for any other database or form."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix):
        return None
    path = database_url[len(prefix) :]
    # in-memory, URL-encoded characters or query options: leave those to SQLAlchemy
    if path in ("", ":memory:") or any(c in path for c in "?%#"):
        return None
    return path


def find_dataset_version(
    database_url: str, name: str, digest: str, *, timeout: float = 60.0
) -> DatasetVersion | None:
    """The version of dataset ``name`` holding the content ``digest`` (as ``store.datasets.find_version``
    gives it), or None when there is none or it cannot be told for certain without the Store."""
    path = sqlite_file(database_url)
    if path is None:
        return None
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout, isolation_level=None)
    except sqlite3.Error:
        return None
    try:
        conn.execute("BEGIN")  # one snapshot for every read below
        if conn.execute("SELECT version_num FROM alembic_version").fetchall() != [(HEAD,)]:
            return None
        rows = conn.execute(_SELECT_VERSION, (name, digest)).fetchall()
        if len(rows) != 1:
            return None
        version_id = rows[0][0]
        tags = [r[0] for r in conn.execute(_SELECT_TAGS, (version_id,))]
        parents = [r[0] for r in conn.execute(_SELECT_PARENTS, (version_id,))]
        return version_from_row(rows[0], {version_id: tags}, {version_id: parents})
    except Exception:  # a missing table, a locked or corrupt file, a row that does not decode: not certain
        return None
    finally:
        conn.close()
