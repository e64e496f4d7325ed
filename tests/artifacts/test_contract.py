"""The behaviour every ArtifactStore must have, run against each implementation."""

from __future__ import annotations

import io
import os
import sys
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from blake3 import blake3

from loopml.artifacts import (
    ArtifactStore,
    Blob,
    LocalArtifactStore,
    ManifestEntry,
    MemoryArtifactStore,
    hash_bytes,
    is_digest,
)
from loopml.artifacts._base import encode_manifest
from loopml.errors import BlobNotFoundError, IntegrityError, InvalidArgumentError, PathEscapeError

from .conftest import backing, tmp_files

needs_symlinks = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")

MISSING = "0" * 64


def tamper(store: ArtifactStore, digest: str) -> None:
    """Flip the first byte of a stored blob behind the store's back (the server's, for a remote store),
    keeping its size."""
    store = backing(store)
    if isinstance(store, LocalArtifactStore):
        path = store.local_path(digest)
        assert path is not None
        data = bytearray(path.read_bytes())
        data[0] ^= 0xFF
        path.chmod(0o644)  # objects are read-only; an accident or an attacker can still change them
        path.write_bytes(bytes(data))
    else:
        assert isinstance(store, MemoryArtifactStore)
        data = bytearray(store._blobs[digest])
        data[0] ^= 0xFF
        store._blobs[digest] = bytes(data)


def make_tree(root: Path) -> dict[str, bytes]:
    files = {
        "a.txt": b"alpha",
        "nested/b.bin": bytes(range(256)) * 10,
        "nested/deeper/c.txt": b"gamma",
        "nested/deeper/same-as-a.txt": b"alpha",
        "empty": b"",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


class TestArtifactStoreContract:
    # -- round trips
    @pytest.mark.parametrize("data", [b"", b"x", b"hello world" * 1000])
    def test_bytes_round_trip(self, store: ArtifactStore, data: bytes) -> None:
        blob = store.put_bytes(data)
        assert blob == Blob(hash_bytes(data), len(data), "file")
        assert store.get_bytes(blob.digest) == data
        assert store.exists(blob.digest)

    def test_stream_round_trip(self, store: ArtifactStore) -> None:
        data = os.urandom(3 * (1 << 20) + 17)
        blob = store.put_stream(io.BytesIO(data))
        assert blob.size == len(data)
        with store.open(blob.digest) as f:
            assert f.read() == data

    def test_file_round_trip(self, store: ArtifactStore, tmp_path: Path) -> None:
        src = tmp_path / "in.bin"
        src.write_bytes(b"file content")
        blob = store.put_file(src)
        dest = tmp_path / "out" / "deep" / "copy.bin"
        assert store.get_file(blob.digest, dest) == dest
        assert dest.read_bytes() == b"file content"
        assert [p.name for p in dest.parent.iterdir()] == ["copy.bin"]  # no temporary left beside it

    def test_a_staged_file_is_stored_on_commit_and_leaves_nothing_on_discard(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        source = tmp_path / "big.bin"
        source.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
        staged = store.stage_file(source)
        staged.discard()
        assert list(store.iter_objects()) == []
        assert tmp_files(store) in ([], None)
        blob = store.stage_file(source).commit()
        assert blob == store.put_file(source) and store.get_bytes(blob.digest) == source.read_bytes()

    def test_a_staged_folder_is_its_put_dir_on_commit_and_nothing_on_discard(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        folder = tmp_path / "folder"
        (folder / "sub").mkdir(parents=True)
        for i in range(5):
            (folder / f"f{i}.bin").write_bytes(os.urandom(1000 + i))
        (folder / "sub" / "same.bin").write_bytes((folder / "f0.bin").read_bytes())
        store.stage_dir(folder).discard()
        assert list(store.iter_objects()) == []
        assert tmp_files(store) in ([], None)
        blob = store.stage_dir(folder).commit()
        assert blob == store.put_dir(folder) and blob.kind == "dir"
        assert sorted(store.read_manifest(blob.digest)) == [
            "f0.bin",
            "f1.bin",
            "f2.bin",
            "f3.bin",
            "f4.bin",
            "sub/same.bin",
        ]

    @needs_symlinks
    def test_staging_a_folder_with_a_link_out_is_refused_at_once(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        folder = tmp_path / "folder"
        folder.mkdir()
        (tmp_path / "secret").write_text("x")
        (folder / "link").symlink_to(tmp_path / "secret")
        with pytest.raises(PathEscapeError):
            store.stage_dir(folder)
        assert list(store.iter_objects()) == []

    def test_staging_a_missing_file_fails_and_stores_nothing(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        with pytest.raises(FileNotFoundError):
            store.stage_file(tmp_path / "absent.bin").commit()
        assert list(store.iter_objects()) == []

    def test_get_file_replaces_existing_dest(self, store: ArtifactStore, tmp_path: Path) -> None:
        blob = store.put_bytes(b"new")
        dest = tmp_path / "dest"
        dest.write_bytes(b"old content")
        store.get_file(blob.digest, dest)
        assert dest.read_bytes() == b"new"

    def test_digest_is_blake3_of_content(self, store: ArtifactStore, tmp_path: Path) -> None:
        data = b"the quick brown fox"
        expected = blake3(data).hexdigest()
        src = tmp_path / "f"
        src.write_bytes(data)
        assert store.put_bytes(data).digest == expected
        assert store.put_stream(io.BytesIO(data)).digest == expected
        assert store.put_file(src).digest == expected
        assert is_digest(expected)

    def test_same_content_is_stored_once(self, store: ArtifactStore, tmp_path: Path) -> None:
        src = tmp_path / "f"
        src.write_bytes(b"dup")
        blobs = {store.put_bytes(b"dup"), store.put_stream(io.BytesIO(b"dup")), store.put_file(src)}
        assert len(blobs) == 1
        assert [o.digest for o in store.iter_objects()] == [blobs.pop().digest]

    def test_concurrent_writers_of_same_content(self, store: ArtifactStore) -> None:
        data = os.urandom(2 << 20)
        results: list[Blob] = []

        def write() -> None:
            results.append(store.put_bytes(data))

        threads = [threading.Thread(target=write) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(results)) == 1
        assert len(list(store.iter_objects())) == 1
        assert store.verify(results[0].digest)

    def test_large_stream_is_read_in_chunks(
        self, store: ArtifactStore, generated_stream: Callable[[int], Any]
    ) -> None:
        stream = generated_stream(50 << 20)
        tracemalloc.start()
        try:
            blob = store.put_stream(stream)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert blob.size == 50 << 20
        assert blob.digest == stream.expected_digest()
        assert len(stream.read_sizes) > 10
        assert max(stream.read_sizes) <= 8 << 20
        if not isinstance(store, MemoryArtifactStore):  # the memory store must hold it all, by nature
            assert peak < 16 << 20, f"peak {peak} bytes while writing a 50 MB stream"
        with store.open(blob.digest) as f:
            hasher = blake3()
            while chunk := f.read(1 << 20):
                hasher.update(chunk)
        assert hasher.hexdigest() == blob.digest

    # -- verification
    def test_open_can_be_read_in_parts(self, store: ArtifactStore) -> None:
        blob = store.put_bytes(b"0123456789")
        with store.open(blob.digest) as f:
            assert f.read(3) == b"012"
            assert f.read() == b"3456789"
            assert f.read() == b""

    @pytest.mark.parametrize("path", ["get_bytes", "open", "get_file", "get_dir", "read_manifest"])
    def test_tampering_is_detected_on_every_read_path(
        self, store: ArtifactStore, tmp_path: Path, path: str
    ) -> None:
        (tmp_path / "tree").mkdir()
        (tmp_path / "tree" / "f.txt").write_bytes(b"precious bytes")
        folder = store.put_dir(tmp_path / "tree")
        file_digest = store.read_manifest(folder.digest)["f.txt"].digest
        tamper(store, folder.digest if path == "read_manifest" else file_digest)
        dest = tmp_path / "out"
        with pytest.raises(IntegrityError) as info:
            if path == "get_bytes":
                store.get_bytes(file_digest)
            elif path == "open":
                with store.open(file_digest) as f:
                    f.read()
            elif path == "get_file":
                store.get_file(file_digest, dest)
            elif path == "get_dir":
                store.get_dir(folder.digest, dest)
            else:
                store.read_manifest(folder.digest)
        message = str(info.value)
        assert "loopml doctor" in message
        assert (folder.digest if path == "read_manifest" else file_digest) in message
        assert not store.verify(folder.digest if path == "read_manifest" else file_digest)
        assert not dest.exists() or not any(p.is_file() for p in dest.rglob("*"))

    def test_open_raises_only_at_the_end(self, store: ArtifactStore) -> None:
        blob = store.put_bytes(b"a" * 100)
        tamper(store, blob.digest)
        with store.open(blob.digest) as f:
            assert len(f.read(10)) == 10  # a mismatch can only be known once everything is read
            with pytest.raises(IntegrityError):
                f.read()

    @pytest.mark.parametrize("dest_existed", [False, True])
    def test_get_file_mismatch_leaves_dest_untouched(
        self, store: ArtifactStore, tmp_path: Path, dest_existed: bool
    ) -> None:
        blob = store.put_bytes(b"content to corrupt")
        tamper(store, blob.digest)
        dest = tmp_path / "dest"
        dest.mkdir()
        target = dest / "file.bin"
        if dest_existed:
            target.write_bytes(b"previous")
        with pytest.raises(IntegrityError):
            store.get_file(blob.digest, target)
        assert [p.name for p in dest.iterdir()] == (["file.bin"] if dest_existed else [])
        if dest_existed:
            assert target.read_bytes() == b"previous"

    # -- bad digests
    def test_missing_digest(self, store: ArtifactStore, tmp_path: Path) -> None:
        for read in (
            store.get_bytes,
            store.open,
            store.read_manifest,
            lambda d: store.get_file(d, tmp_path / "f"),
            lambda d: store.get_dir(d, tmp_path / "d"),
        ):
            with pytest.raises(BlobNotFoundError, match=MISSING):
                read(MISSING)
        assert not store.exists(MISSING)
        assert not store.verify(MISSING)
        assert store.local_path(MISSING) is None
        store.delete(MISSING)  # deleting what is not there is not an error
        assert not (tmp_path / "f").exists() and not (tmp_path / "d").exists()

    @pytest.mark.parametrize(
        "bad",
        ["", "abc", "A" * 64, "g" * 64, "0" * 63, "0" * 65, "../" + "0" * 61, "00/" + "0" * 61, None, 12],
    )
    @pytest.mark.parametrize(
        "call",
        [
            "get_bytes",
            "open",
            "get_file",
            "get_dir",
            "read_manifest",
            "exists",
            "verify",
            "delete",
            "local_path",
        ],
    )
    def test_malformed_digest_is_refused(
        self, store: ArtifactStore, tmp_path: Path, bad: Any, call: str
    ) -> None:
        method = getattr(store, call)
        with pytest.raises(InvalidArgumentError, match="not a blob digest"):
            if call in ("get_file", "get_dir"):
                method(bad, tmp_path / "out")
            else:
                method(bad)
        assert not (tmp_path / "out").exists()

    # -- folders
    def test_dir_round_trip(self, store: ArtifactStore, tmp_path: Path) -> None:
        files = make_tree(tmp_path / "tree")
        blob = store.put_dir(tmp_path / "tree")
        assert blob.kind == "dir"
        assert blob.size == sum(len(d) for d in files.values())
        manifest = store.read_manifest(blob.digest)
        assert manifest == {rel: ManifestEntry(hash_bytes(d), len(d)) for rel, d in files.items()}
        assert store.get_dir(blob.digest, tmp_path / "restored") == tmp_path / "restored"
        assert read_tree(tmp_path / "restored") == files
        assert store.put_dir(tmp_path / "tree") == blob  # deterministic
        # 4 distinct file contents (two files are equal) and the manifest
        assert len(list(store.iter_objects())) == 5

    def test_empty_dir_round_trip(self, store: ArtifactStore, tmp_path: Path) -> None:
        (tmp_path / "empty").mkdir()
        blob = store.put_dir(tmp_path / "empty")
        assert blob.size == 0
        assert store.read_manifest(blob.digest) == {}
        store.get_dir(blob.digest, tmp_path / "out")
        assert (tmp_path / "out").is_dir() and not any((tmp_path / "out").iterdir())

    def test_put_dir_of_a_file_is_refused(self, store: ArtifactStore, tmp_path: Path) -> None:
        (tmp_path / "f").write_bytes(b"x")
        with pytest.raises(InvalidArgumentError, match="not a folder"):
            store.put_dir(tmp_path / "f")
        with pytest.raises(InvalidArgumentError, match="not a folder"):
            store.put_dir(tmp_path / "missing")

    def test_read_manifest_of_a_plain_blob(self, store: ArtifactStore) -> None:
        for data in (b"not json", b'{"some": "json"}', b'{"format": "loopml.manifest/1", "files": [1]}', b""):
            blob = store.put_bytes(data)
            with pytest.raises(InvalidArgumentError, match="not a folder manifest"):
                store.read_manifest(blob.digest)

    def test_manifest_with_bad_digest_is_not_a_manifest(self, store: ArtifactStore) -> None:
        blob = store.put_bytes(encode_manifest({"x": ManifestEntry("../../etc/passwd", 1)}))
        with pytest.raises(InvalidArgumentError, match="not a folder manifest"):
            store.read_manifest(blob.digest)

    @pytest.mark.parametrize(
        "bad", ["../x", "/abs", "a/../../x", "a/../b", "", "./x", "a//b", "a/", "x\x00y", "a/b/../../../x"]
    )
    def test_get_dir_refuses_paths_that_escape(self, store: ArtifactStore, tmp_path: Path, bad: str) -> None:
        good = store.put_bytes(b"payload")
        entry = ManifestEntry(good.digest, good.size)
        # "0-first" sorts before the bad entry, so a store writing as it goes would be caught
        manifest = store.put_bytes(encode_manifest({"0-first": entry, bad: entry, "z-last": entry}))
        dest = tmp_path / "dest"
        with pytest.raises(PathEscapeError, match="not a relative path inside"):
            store.get_dir(manifest.digest, dest)
        assert not dest.exists()
        assert not (tmp_path / "x").exists()

    @needs_symlinks
    def test_get_dir_refuses_a_symlink_in_dest_leading_out(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        dest = tmp_path / "dest"
        dest.mkdir()
        (dest / "link").symlink_to(outside)
        good = store.put_bytes(b"payload")
        manifest = store.put_bytes(encode_manifest({"link/x": ManifestEntry(good.digest, good.size)}))
        with pytest.raises(PathEscapeError):
            store.get_dir(manifest.digest, dest)
        assert not any(outside.iterdir())

    def test_get_dir_refuses_a_file_that_is_also_a_folder(self, store: ArtifactStore, tmp_path: Path) -> None:
        good = store.put_bytes(b"payload")
        entry = ManifestEntry(good.digest, good.size)
        manifest = store.put_bytes(encode_manifest({"a": entry, "a/b": entry}))
        with pytest.raises(InvalidArgumentError, match="which is a file"):
            store.get_dir(manifest.digest, tmp_path / "dest")
        assert not (tmp_path / "dest").exists()

    def test_get_dir_with_a_missing_blob_writes_nothing(self, store: ArtifactStore, tmp_path: Path) -> None:
        good = store.put_bytes(b"payload")
        manifest = store.put_bytes(
            encode_manifest({"a": ManifestEntry(good.digest, good.size), "b": ManifestEntry(MISSING, 1)})
        )
        with pytest.raises(BlobNotFoundError, match=MISSING):
            store.get_dir(manifest.digest, tmp_path / "dest")
        assert not (tmp_path / "dest").exists()

    @needs_symlinks
    @pytest.mark.parametrize("target_is_dir", [False, True])
    def test_put_dir_refuses_a_symlink_out(
        self, store: ArtifactStore, tmp_path: Path, target_is_dir: bool
    ) -> None:
        secret = tmp_path / "secret"
        if target_is_dir:
            secret.mkdir()
            (secret / "key").write_bytes(b"secret key")
        else:
            secret.write_bytes(b"secret key")
        tree = tmp_path / "tree"
        (tree / "sub").mkdir(parents=True)
        (tree / "a.txt").write_bytes(b"a")
        (tree / "sub" / "leak").symlink_to(Path("..") / ".." / "secret")
        with pytest.raises(PathEscapeError, match="leak"):
            store.put_dir(tree)
        assert list(store.iter_objects()) == []  # refused before storing anything

    @needs_symlinks
    def test_put_dir_refuses_a_broken_or_looping_symlink(self, store: ArtifactStore, tmp_path: Path) -> None:
        tree = tmp_path / "tree"
        tree.mkdir()
        (tree / "dangling").symlink_to(tree / "nowhere")
        with pytest.raises(InvalidArgumentError, match="dangling"):
            store.put_dir(tree)
        (tree / "dangling").unlink()
        (tree / "self").symlink_to(tree / "self")
        with pytest.raises(InvalidArgumentError, match="self"):
            store.put_dir(tree)
        (tree / "self").unlink()
        (tree / "up").symlink_to(tree)
        with pytest.raises(InvalidArgumentError, match="loop"):
            store.put_dir(tree)

    @needs_symlinks
    def test_put_dir_stores_a_symlink_inside_as_its_target(
        self, store: ArtifactStore, tmp_path: Path
    ) -> None:
        tree = tmp_path / "tree"
        (tree / "data").mkdir(parents=True)
        (tree / "data" / "real.bin").write_bytes(b"real content")
        (tree / "alias.bin").symlink_to(Path("data") / "real.bin")
        (tree / "data-link").symlink_to("data")
        blob = store.put_dir(tree)
        manifest = store.read_manifest(blob.digest)
        assert sorted(manifest) == ["alias.bin", "data-link/real.bin", "data/real.bin"]
        assert len({e.digest for e in manifest.values()}) == 1
        store.get_dir(blob.digest, tmp_path / "out")
        assert (tmp_path / "out" / "alias.bin").read_bytes() == b"real content"
        assert not (tmp_path / "out" / "alias.bin").is_symlink()

    @needs_symlinks
    def test_put_dir_accepts_a_symlinked_root(self, store: ArtifactStore, tmp_path: Path) -> None:
        make_tree(tmp_path / "tree")
        (tmp_path / "link").symlink_to(tmp_path / "tree")
        assert store.put_dir(tmp_path / "link") == store.put_dir(tmp_path / "tree")

    # -- housekeeping
    def test_iter_objects_delete_verify(self, store: ArtifactStore) -> None:
        blobs = [store.put_bytes(bytes([i]) * (i + 1)) for i in range(5)]
        listed = {o.digest: o for o in store.iter_objects()}
        assert set(listed) == {b.digest for b in blobs}
        for b in blobs:
            assert listed[b.digest].size == b.size
            assert listed[b.digest].modified.tzinfo is not None
            assert store.verify(b.digest)
        store.delete(blobs[0].digest)
        assert not store.exists(blobs[0].digest)
        assert not store.verify(blobs[0].digest)
        with pytest.raises(BlobNotFoundError):
            store.get_bytes(blobs[0].digest)
        assert {o.digest for o in store.iter_objects()} == {b.digest for b in blobs[1:]}
        assert store.put_bytes(bytes([0])).digest == blobs[0].digest  # can be stored again
        assert store.verify(blobs[0].digest)

    def test_delete_then_tampered_blob_can_be_repaired(self, store: ArtifactStore) -> None:
        blob = store.put_bytes(b"repair me")
        tamper(store, blob.digest)
        assert not store.verify(blob.digest)
        store.delete(blob.digest)
        store.put_bytes(b"repair me")
        assert store.get_bytes(blob.digest) == b"repair me"
