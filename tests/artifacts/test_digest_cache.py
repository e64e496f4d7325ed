"""The digest cache: an unchanged file is not read again; any change, or trouble with the cache, is a miss."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from loopml.artifacts import Blob, LocalArtifactStore, hash_file


def old_file(path: Path, data: bytes, age: float = 60.0) -> Path:
    path.write_bytes(data)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "root")


def forbid_reading(store: LocalArtifactStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a file fails the test; small in-memory writes (a folder's manifest) still go through."""
    ingest = store._ingest

    def refuse(stream: BinaryIO) -> Blob:
        if not isinstance(stream, io.BytesIO):
            raise AssertionError("the file was read although its digest was cached")
        return ingest(stream)

    monkeypatch.setattr(store, "_ingest", refuse)


def test_unchanged_file_is_not_read_again(store: LocalArtifactStore, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = old_file(tmp_path / "a.bin", b"x" * 10_000)
    first = store.put_file(path)
    forbid_reading(store, monkeypatch)
    assert store.put_file(path) == first
    assert store.known_blob(path) == first and first.digest == hash_file(path)


@pytest.mark.parametrize("change", ["content", "replaced", "touched"])
def test_any_change_is_a_miss(store: LocalArtifactStore, tmp_path: Path, change: str) -> None:
    path = old_file(tmp_path / "a.bin", b"x" * 100)
    first = store.put_file(path)
    if change == "content":  # same size, new bytes, new mtime
        old_file(path, b"y" * 100, age=30)
    elif change == "replaced":  # a new inode at the same path
        other = old_file(tmp_path / "b.bin", b"z" * 100)
        os.replace(other, path)
    else:
        os.utime(path, (time.time() - 10, time.time() - 10))
    assert store.known_blob(path) is None
    assert store.put_file(path).digest == hash_file(path)
    assert (store.put_file(path).digest == first.digest) is (change == "touched")


def test_a_file_written_just_now_is_not_trusted(store: LocalArtifactStore, tmp_path: Path) -> None:
    path = tmp_path / "fresh.bin"
    path.write_bytes(b"new")  # mtime is now: a same-size rewrite in the same tick would look unchanged
    store.put_file(path)
    assert store.known_blob(path) is None


def test_folders(store: LocalArtifactStore, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    for i in range(20):
        old_file(folder / ("sub" if i % 2 else ".") / f"f{i}.bin", bytes([i]) * 50)
    blob = store.put_dir(folder)
    assert store.known_blob(folder) == blob
    old_file(folder / "new.bin", b"new")
    assert store.known_blob(folder) is None  # a file the cache has not seen
    (folder / "new.bin").unlink()
    forbid_reading(store, monkeypatch)
    assert store.put_dir(folder) == blob


def test_a_removed_blob_is_stored_again(store: LocalArtifactStore, tmp_path: Path) -> None:
    path = old_file(tmp_path / "a.bin", b"abc" * 100)
    blob = store.put_file(path)
    store.delete(blob.digest)
    assert store.known_blob(path) is None
    assert store.put_file(path) == blob and store.exists(blob.digest)


def test_a_broken_cache_only_means_misses(store: LocalArtifactStore, tmp_path: Path) -> None:
    path = old_file(tmp_path / "a.bin", b"abc" * 100)
    store.put_file(path)
    cache = Path(store.root) / "cache" / "digests.sqlite"
    for leftover in cache.parent.glob("digests.sqlite*"):
        leftover.unlink()
    cache.write_bytes(b"not a database" * 100)
    broken = LocalArtifactStore(store.root)
    assert broken.known_blob(path) is None
    assert broken.put_file(path).digest == hash_file(path)


def test_the_cache_can_be_turned_off(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "root", digest_cache=False)
    path = old_file(tmp_path / "a.bin", b"abc")
    store.put_file(path)
    assert store.known_blob(path) is None and not (tmp_path / "root" / "cache").exists()
