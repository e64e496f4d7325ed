"""Fixtures shared by the artifact store tests: the store of each kind, generated streams, old files."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from blake3 import blake3

from loopml.artifacts import ArtifactStore, LocalArtifactStore, MemoryArtifactStore, RemoteArtifactStore
from server._app import blob_app, serving

MIB = 1 << 20

# a remote store -> the local store the test server keeps its blobs in
_BACKING: dict[int, LocalArtifactStore] = {}


@pytest.fixture(params=["local", "memory", "remote"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    """An empty store of each kind; ``remote`` talks to a real uvicorn serving the blob API over a local
    store (reach that with ``backing(store)``)."""
    if request.param == "local":
        yield LocalArtifactStore(tmp_path / "store")
    elif request.param == "memory":
        yield MemoryArtifactStore()
    else:
        served = LocalArtifactStore(tmp_path / "served")
        with serving(blob_app(served, spool_dir=tmp_path / "spool")) as url:
            remote = RemoteArtifactStore(url, token="admin")
            _BACKING[id(remote)] = served
            try:
                yield remote
            finally:
                del _BACKING[id(remote)]
                remote.close()
        assert list((tmp_path / "spool").iterdir()) == [], "an upload left its spooled copy"


def backing(store: ArtifactStore) -> ArtifactStore:
    """Where ``store``'s bytes really lie: the server's local store for a remote one, else ``store``."""
    return _BACKING.get(id(store), store)


def tmp_files(store: ArtifactStore) -> list[Path] | None:
    """The temporary files a store that writes through a folder has left there (None: it has no folder)."""
    real = backing(store)
    return list((Path(real.root) / "tmp").iterdir()) if isinstance(real, LocalArtifactStore) else None


def _chunks(total: int, block: bytes) -> Iterator[bytes]:
    index = 0
    while total > 0:
        chunk = (index.to_bytes(8, "big") + block[8:])[:total]  # a counter keeps every MiB distinct
        total -= len(chunk)
        index += 1
        yield chunk


class GeneratedStream:
    """``total`` pseudo-random bytes made on demand (never all held at once); records each read size."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.read_sizes: list[int] = []
        self._block = os.urandom(MIB)
        self._source = _chunks(total, self._block)
        self._pending = b""

    def read(self, n: int = -1) -> bytes:
        self.read_sizes.append(n)
        if n is None or n < 0:
            raise AssertionError("the store asked for the whole stream at once")
        while len(self._pending) < n and (nxt := next(self._source, None)) is not None:
            self._pending += nxt
        out, self._pending = self._pending[:n], self._pending[n:]
        return out

    def expected_digest(self) -> str:
        hasher = blake3()
        for chunk in _chunks(self.total, self._block):
            hasher.update(chunk)
        return hasher.hexdigest()


@pytest.fixture
def generated_stream() -> Callable[[int], GeneratedStream]:
    return GeneratedStream


def old_file(path: Path, data: bytes, age: float = 60.0) -> Path:
    """Write ``data`` to ``path`` with a modification time ``age`` seconds ago (old enough to be cached)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


COMMON_CHANGES = ("content", "touched", "added", "removed", "renamed")


def change_tree(target: Path, change: str) -> None:
    """Change the folder holding ``target`` one of the ``COMMON_CHANGES`` ways."""
    if change == "content":  # same size, other bytes, an older mtime than now but not the same
        old_file(target, b"x" * target.stat().st_size, age=30)
    elif change == "touched":
        os.utime(target, (time.time() - 10, time.time() - 10))
    elif change == "added":
        old_file(target.parent / "new.bin", b"new")
    elif change == "removed":
        target.unlink()
    elif change == "renamed":
        target.rename(target.parent / f"moved-{target.name}")
    else:
        raise ValueError(change)
