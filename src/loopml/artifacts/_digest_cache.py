"""A cache of file digests keyed by path, size, modification time, inode and device.

Re-adding a file or folder that has not changed then costs a ``stat`` per file instead of reading it. A file
whose size, mtime, inode or device differ misses and is hashed again. The cache lives next to the blobs, in
SQLite; any trouble with it (locked, corrupt, read-only) only ever means a miss, never a failed write.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS file_digests (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
    device INTEGER NOT NULL, digest TEXT NOT NULL
)
"""


_SELECT = "SELECT size, mtime_ns, inode, device, digest FROM file_digests WHERE path = ?"


def stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


class DigestCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._pending: list[tuple[str, int, int, int, int, str]] = []
        self._deferred = 0
        self._pid = os.getpid()

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():  # a forked child opens its own
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=5, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def get(self, file: Path, st: os.stat_result) -> str | None:
        """The digest recorded for ``file`` if it still has the size, mtime, inode and device of ``st``."""
        try:
            with self._lock:
                row = self._connection().execute(_SELECT, (str(file),)).fetchone()
        except sqlite3.Error:
            return None
        if row is None or tuple(row[:4]) != stat_key(st):
            return None
        return str(row[4])

    def put(self, file: Path, st: os.stat_result, digest: str) -> None:
        with self._lock:
            self._pending.append((str(file), *stat_key(st), digest))
            if self._deferred:
                return
        self.flush()

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
            if not rows:
                return
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT OR REPLACE INTO file_digests VALUES (?, ?, ?, ?, ?, ?)", rows)
                conn.execute("COMMIT")
            except sqlite3.Error:
                with contextlib.suppress(sqlite3.Error):
                    if self._conn is not None:
                        self._conn.execute("ROLLBACK")
