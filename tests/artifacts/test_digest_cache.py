"""The digest cache: an unchanged file is not read again; any change, or trouble with the cache, is a miss."""

from __future__ import annotations

import io
import os
import sqlite3
import time
from pathlib import Path
from typing import BinaryIO

import pytest

from loopml.artifacts import Blob, LocalArtifactStore, MemoryArtifactStore, hash_file, peek_known_blob
from loopml.artifacts._digest_cache import DigestCache

from .conftest import COMMON_CHANGES, change_tree, old_file


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


# -- folders: one lookup for the whole folder, keyed by the fingerprint of all its files


def old_tree(root: Path, n: int = 12) -> Path:
    for i in range(n):
        old_file((root / ("sub" if i % 3 == 0 else ".") / f"f{i}.bin").resolve(), bytes([i]) * (40 + i))
    return root


def forget_files(store: LocalArtifactStore) -> None:
    """Drop the per-file entries, as if only the folder entry were known."""
    with sqlite3.connect(Path(store.root) / "cache" / "digests.sqlite") as conn:
        conn.execute("DELETE FROM file_digests")


def forget_folders(store: LocalArtifactStore) -> None:
    """Drop the folder entries, as in a cache written before they existed."""
    with sqlite3.connect(Path(store.root) / "cache" / "digests.sqlite") as conn:
        conn.execute("DELETE FROM dir_digests")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    return old_tree(root)


def test_an_unchanged_folder_is_one_lookup(store: LocalArtifactStore, tree: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    blob = store.put_dir(tree)
    forget_files(store)
    monkeypatch.setattr(DigestCache, "get_under", lambda *a: pytest.fail("looked up file by file"))
    assert store.known_blob(tree) == blob
    assert peek_known_blob(store.root, tree) == blob
    assert peek_known_blob(store.root, tree.parent / "tree" / "sub" / "..") == blob  # the same real folder


@pytest.mark.parametrize("change", [*COMMON_CHANGES, "replaced"])
def test_any_change_in_a_folder_is_a_miss(store: LocalArtifactStore, tree: Path, change: str) -> None:
    store.put_dir(tree)
    target = tree / "sub" / "f3.bin"
    if change in COMMON_CHANGES:
        change_tree(target, change)
    else:
        other = old_file(tree.parent / "other.bin", b"z" * target.stat().st_size)
        os.replace(other, target)
    assert store.known_blob(tree) is None
    assert peek_known_blob(store.root, tree) is None
    assert store.put_dir(tree) == MemoryArtifactStore().put_dir(tree)  # stored as it is now
    assert store.known_blob(tree) == peek_known_blob(store.root, tree) == store.put_dir(tree)


def test_a_folder_with_a_file_written_just_now_is_not_recorded(store: LocalArtifactStore, tree: Path) -> None:
    (tree / "sub" / "fresh.bin").write_bytes(b"fresh")
    blob = store.put_dir(tree)
    assert peek_known_blob(store.root, tree) is None
    assert store.known_blob(tree) is None
    os.utime(tree / "sub" / "fresh.bin", (time.time() - 5, time.time() - 5))
    assert store.put_dir(tree) == blob  # now trusted, and recorded
    assert peek_known_blob(store.root, tree) == blob


def test_a_folder_known_file_by_file_is_recorded_for_next_time(
    store: LocalArtifactStore, tree: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    blob = store.put_dir(tree)
    forget_folders(store)  # a cache from before folder entries
    assert peek_known_blob(store.root, tree) is None  # the read-only peek does not go file by file
    with monkeypatch.context() as m:
        m.setattr(DigestCache, "get", lambda *a: pytest.fail("one query per file"))
        assert store.known_blob(tree) == blob  # one query for the whole folder
    assert peek_known_blob(store.root, tree) == blob


def test_a_folder_whose_manifest_or_file_blob_is_gone_is_a_miss(
    store: LocalArtifactStore, tree: Path
) -> None:
    blob = store.put_dir(tree)
    store.delete(blob.digest)
    assert store.known_blob(tree) is None and peek_known_blob(store.root, tree) is None
    assert store.put_dir(tree) == blob and store.exists(blob.digest)
    forget_folders(store)
    first = store.read_manifest(blob.digest)["sub/f0.bin"].digest
    store.delete(first)
    assert store.known_blob(tree) is None  # file by file, each blob must be there
    assert store.put_dir(tree) == blob and store.exists(first)


def test_a_broken_cache_only_means_misses_for_folders(store: LocalArtifactStore, tree: Path) -> None:
    store.put_dir(tree)
    cache = Path(store.root) / "cache" / "digests.sqlite"
    for leftover in cache.parent.glob("digests.sqlite*"):
        leftover.unlink()
    cache.write_bytes(b"not a database" * 100)
    assert peek_known_blob(store.root, tree) is None
    broken = LocalArtifactStore(store.root)
    assert broken.known_blob(tree) is None
    assert broken.put_dir(tree) == MemoryArtifactStore().put_dir(tree)


def test_a_peek_creates_nothing(tmp_path: Path, tree: Path) -> None:
    root = tmp_path / "no-store"
    assert peek_known_blob(root, tree) is None
    assert peek_known_blob(root, tree / "f1.bin") is None
    assert not root.exists()
    store = LocalArtifactStore(tmp_path / "root", digest_cache=False)
    store.put_dir(tree)
    assert peek_known_blob(store.root, tree) is None
    assert not (tmp_path / "root" / "cache").exists()


def test_a_peek_of_a_file_is_what_the_store_knows(store: LocalArtifactStore, tmp_path: Path) -> None:
    path = old_file(tmp_path / "a.bin", b"abc" * 100)
    assert peek_known_blob(store.root, path) is None
    blob = store.put_file(path)
    assert peek_known_blob(store.root, path) == blob == store.known_blob(path)
    old_file(path, b"xyz" * 100, age=30)
    assert peek_known_blob(store.root, path) is None
    with pytest.raises(FileNotFoundError):  # errors are for the caller to report
        peek_known_blob(store.root, tmp_path / "missing.bin")
