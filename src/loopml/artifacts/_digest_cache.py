"""A cache of file digests keyed by path, size, modification time, inode and device, and of folder manifests
keyed by a fingerprint of every file in the folder.

Re-adding a file or folder that has not changed then costs a ``stat`` per file instead of reading it. A file
whose size, mtime, inode or device differ misses and is hashed again; so does a folder in which any file
changed, or was added or removed. The cache lives next to the blobs, in SQLite; any trouble with it (locked,
corrupt, read-only, missing) only ever means a miss, never a failed write.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS file_digests (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
    device INTEGER NOT NULL, digest TEXT NOT NULL
)
""",
    # one row per folder (its real path): the fingerprint of its files when its manifest was last stored
    """
CREATE TABLE IF NOT EXISTS dir_digests (
    path TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL
)
""",
)


_SELECT = "SELECT size, mtime_ns, inode, device, digest FROM file_digests WHERE path = ?"
_SELECT_UNDER = (
    "SELECT path, size, mtime_ns, inode, device, digest FROM file_digests WHERE path >= ? AND path < ?"
)
_SELECT_DIR = "SELECT fingerprint, digest, size FROM dir_digests WHERE path = ?"
# what the cache may raise: SQLite's errors, and ValueError for a path SQLite cannot encode (lone surrogates)
_TROUBLE = (sqlite3.Error, ValueError)


def stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


class DigestCache:
    """The cache in the SQLite file ``path``; ``readonly`` opens it for lookups only and never creates it."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.readonly = readonly
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._pending: list[tuple[str, int, int, int, int, str]] = []
        self._deferred = 0
        self._pid = os.getpid()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():  # a forked child opens its own
            if self.readonly:
                uri = "file:" + str(self.path).replace("%", "%25").replace("?", "%3f").replace("#", "%23")
                conn = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=5, check_same_thread=False)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path, timeout=5, check_same_thread=False, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                for table in _SCHEMA:
                    conn.execute(table)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def get(self, file: Path, st: os.stat_result) -> str | None:
        """The digest recorded for ``file`` if it still has the size, mtime, inode and device of ``st``."""
        try:
            with self._lock:
                row = self._connection().execute(_SELECT, (str(file),)).fetchone()
        except _TROUBLE:
            return None
        if row is None or tuple(row[:4]) != stat_key(st):
            return None
        return str(row[4])

    def get_under(self, folder: str) -> dict[str, tuple[tuple[int, int, int, int], str]]:
        """Every file recorded under the folder ``folder`` (an absolute path): path -> (stat key, digest).

        One query for the whole folder; empty when the cache cannot be read.
        """
        prefix = folder if folder.endswith(os.sep) else folder + os.sep
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)  # every path that starts with prefix sorts below it
        try:
            with self._lock:
                rows = self._connection().execute(_SELECT_UNDER, (prefix, upper)).fetchall()
        except _TROUBLE:
            return {}
        return {str(r[0]): ((r[1], r[2], r[3], r[4]), str(r[5])) for r in rows}

    def get_dir(self, folder: str, fingerprint: str) -> tuple[str, int] | None:
        """(manifest digest, total size) recorded for ``folder`` when its files still have ``fingerprint``."""
        try:
            with self._lock:
                row = self._connection().execute(_SELECT_DIR, (folder,)).fetchone()
        except _TROUBLE:
            return None
        if row is None or row[0] != fingerprint or not isinstance(row[2], int):
            return None
        return str(row[1]), row[2]

    def put(self, file: Path, st: os.stat_result, digest: str) -> None:
        with self._lock:
            self._pending.append((str(file), *stat_key(st), digest))
            if self._deferred:
                return
        self.flush()

    def put_dir(self, folder: str, fingerprint: str, digest: str, size: int) -> None:
        """Record that the files of ``folder`` with ``fingerprint`` make the manifest ``digest``."""
        self._write(
            "INSERT OR REPLACE INTO dir_digests VALUES (?, ?, ?, ?)", [(folder, fingerprint, digest, size)]
        )

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Write the entries recorded inside the block in one transaction at its end (for folders)."""
        with self._lock:
            self._deferred += 1
        try:
            yield
        finally:
            with self._lock:
                self._deferred -= 1
            self.flush()

    def flush(self) -> None:
        with self._lock:
            rows, self._pending = self._pending, []
        if rows:
            self._write("INSERT OR REPLACE INTO file_digests VALUES (?, ?, ?, ?, ?, ?)", rows)

    def _write(self, statement: str, rows: Sequence[tuple[object, ...]]) -> None:
        if self.readonly:
            return
        with self._lock:
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(statement, rows)
                conn.execute("COMMIT")
            except _TROUBLE:
                with contextlib.suppress(sqlite3.Error):
                    if self._conn is not None:
                        self._conn.execute("ROLLBACK")
