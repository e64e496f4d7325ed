"""What only the local folder store does: its layout, permissions, temporary files and opening by root."""

from __future__ import annotations

import os
import stat
import sys
import time
from pathlib import Path

import pytest

from loopml.artifacts import LocalArtifactStore, hash_bytes, hash_file, open_artifact_store
from loopml.errors import InvalidArgumentError


def test_layout_and_read_only_objects(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    blob = store.put_bytes(b"layout")
    path = tmp_path / "objects" / blob.digest[:2] / blob.digest[2:]
    assert store.local_path(blob.digest) == path
    assert path.read_bytes() == b"layout"
    assert len(path.name) == 62
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o444
    assert list((tmp_path / "tmp").iterdir()) == []  # every write cleans up after itself


def test_store_root_is_created_and_reopened(tmp_path: Path) -> None:
    root = tmp_path / "a" / "b"
    digest = LocalArtifactStore(root).put_bytes(b"persisted").digest
    assert open_artifact_store(str(root)).get_bytes(digest) == b"persisted"
    assert LocalArtifactStore(str(root)).root == str(root)


def test_open_artifact_store(tmp_path: Path) -> None:
    assert isinstance(open_artifact_store(str(tmp_path)), LocalArtifactStore)
    assert open_artifact_store(f"file://{tmp_path}").root == str(tmp_path)
    with pytest.raises(InvalidArgumentError, match="s3://"):
        open_artifact_store("s3://bucket/prefix")


def test_hash_file_matches_hash_bytes(tmp_path: Path) -> None:
    data = os.urandom((1 << 20) * 2 + 5)  # spans several chunks
    (tmp_path / "f").write_bytes(data)
    assert hash_file(tmp_path / "f") == hash_bytes(data)


def test_iter_objects_skips_temporaries_and_strays(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    blob = store.put_bytes(b"real")
    (tmp_path / "tmp" / "put-leftover.tmp").write_bytes(b"partial")
    (tmp_path / "objects" / "zz").mkdir()
    (tmp_path / "objects" / "zz" / "not-a-digest").write_bytes(b"?")
    (tmp_path / "objects" / "README").write_bytes(b"?")
    assert [o.digest for o in store.iter_objects()] == [blob.digest]


def test_clean_tmp_removes_only_old_files(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    old = tmp_path / "tmp" / "put-old.tmp"
    new = tmp_path / "tmp" / "put-new.tmp"
    old.write_bytes(b"old")
    new.write_bytes(b"new")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert store.clean_tmp(600) == 1
    assert not old.exists() and new.exists()
    assert store.clean_tmp(0) == 1
    assert list((tmp_path / "tmp").iterdir()) == []
    with pytest.raises(InvalidArgumentError):
        store.clean_tmp(-1)


def test_a_truncated_object_is_replaced_by_a_new_write(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    blob = store.put_bytes(b"complete content")
    path = store.local_path(blob.digest)
    assert path is not None
    path.chmod(0o644)
    path.write_bytes(b"compl")
    assert not store.verify(blob.digest)
    assert store.put_bytes(b"complete content") == blob
    assert store.verify(blob.digest)


def test_a_failed_write_leaves_no_temporary(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)

    class Broken:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("connection reset")
            return b"x" * n

    with pytest.raises(OSError, match="connection reset"):
        store.put_stream(Broken())  # type: ignore[arg-type]
    assert list((tmp_path / "tmp").iterdir()) == []
    assert list(store.iter_objects()) == []


def test_restored_files_are_writable_by_their_owner(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    blob = store.put_bytes(b"restored")
    dest = store.get_file(blob.digest, tmp_path / "out.bin")
    assert os.access(dest, os.W_OK)  # objects are read-only; copies handed to the user are not
