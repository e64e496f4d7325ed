"""Blobs as read-only files in a local folder: ``<root>/objects/ab/cdef...``, written via ``<root>/tmp``."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import blake3

from loopml.artifacts._base import (
    ArtifactStore,
    Blob,
    ManifestEntry,
    StagedBlob,
    StoredObject,
    encode_manifest,
    load_manifest,
    restore_dir,
    write_verified,
)
from loopml.artifacts._digest_cache import DigestCache, stat_key
from loopml.artifacts._hashing import (
    check_digest,
    copy_and_hash,
    hash_bytes,
    integrity_error,
    is_digest,
    verifying_stream,
)
from loopml.artifacts._known import CACHE_FILE, RACY_NS, known_blob
from loopml.artifacts._scan import ScannedFile, fingerprint, scan_dir
from loopml.errors import BlobNotFoundError, InvalidArgumentError

_READ_ONLY = 0o444


class LocalArtifactStore(ArtifactStore):
    """A content-addressed store in the folder ``root`` (created if missing)."""

    def __init__(self, root: str | Path, *, digest_cache: bool = True) -> None:
        self._root = Path(root)
        self.root = str(self._root)
        self._objects = self._root / "objects"
        self._tmp = self._root / "tmp"
        self._objects.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(exist_ok=True)
        self._digests = DigestCache(self._root.joinpath(*CACHE_FILE)) if digest_cache else None
        self._batch_sync = False

    def __repr__(self) -> str:
        return f"LocalArtifactStore({self.root!r})"

    # -- writing
    def put_bytes(self, data: bytes) -> Blob:
        if len(data) <= _SMALL:  # small values repeat (a step's same output again): hash before writing
            digest = blake3.blake3(data).hexdigest()
            target = self._path(digest)
            if target.is_file() and target.stat().st_size == len(data):
                return Blob(digest, len(data))
        return self._ingest(io.BytesIO(data))

    def put_stream(self, stream: BinaryIO) -> Blob:
        return self._ingest(stream)

    def put_file(self, path: str | Path) -> Blob:
        return self._put_file(path)[0]

    def _put_file(self, path: str | Path) -> tuple[Blob, os.stat_result, bool]:
        """The blob, the stat of the file it was read from, and whether the cache may trust that stat."""
        file = Path(os.path.abspath(path))
        st = os.stat(file)
        known = self.cached_digest(file, st)
        if known is not None:
            return Blob(known, st.st_size), st, True
        with open(file, "rb") as f:
            blob = self._ingest(f)
        return blob, st, self._remember(file, st, blob.digest)

    def stage_file(self, path: str | Path) -> StagedBlob:
        """Copy and hash ``path`` into the temporary folder in a thread (file I/O and blake3 release the
        GIL); ``commit()`` renames it into place, ``discard()`` removes the temporary copy."""
        file = Path(os.path.abspath(path))
        st = os.stat(file)
        known = self.cached_digest(file, st)
        if known is not None:
            return StagedBlob(lambda: Blob(known, st.st_size))
        written: list[tuple[Path, str, int]] = []

        def copy() -> None:
            with open(file, "rb") as f:
                written.append(self._write_tmp(f))

        wait = _in_thread(copy)

        def commit() -> Blob:
            wait()
            blob = self._place(*written.pop())
            self._remember(file, st, blob.digest)
            return blob

        def discard() -> None:
            with contextlib.suppress(BaseException):
                wait()
            for tmp, _, _ in written:
                tmp.unlink(missing_ok=True)

        return StagedBlob(commit, discard)

    def stage_dir(self, path: str | Path) -> StagedBlob:
        """Copy and hash a folder's files into the temporary folder in a thread; ``commit()`` makes them
        durable with one sync, renames them into place and stores the manifest; ``discard()`` removes the
        copies. The same manifest as ``put_dir``'s."""
        base, files = scan_dir(path)  # a bad link is refused before anything is copied
        staged: list[tuple[str, Path, os.stat_result, Path | None, str, int]] = []
        cancelled = threading.Event()

        def copy() -> None:
            for rel, real, _ in files:
                if cancelled.is_set():
                    return
                file = Path(real)
                st = os.stat(file)
                known = self.cached_digest(file, st)
                if known is not None:
                    staged.append((rel, file, st, None, known, st.st_size))
                    continue
                with open(file, "rb") as f:
                    tmp, digest, size = self._write_tmp(f, sync=False)
                staged.append((rel, file, st, tmp, digest, size))

        wait = _in_thread(copy)

        def discard() -> None:
            cancelled.set()
            with contextlib.suppress(BaseException):
                wait()
            for _, _, _, tmp, _, _ in staged:
                if tmp is not None:
                    tmp.unlink(missing_ok=True)

        def commit() -> Blob:
            try:
                wait()
            except BaseException:
                discard()
                raise
            if hasattr(os, "sync"):
                os.sync()  # every copy durable before a name promises it
            entries: dict[str, ManifestEntry] = {}
            hashed: list[ScannedFile] = []
            trusted = self._digests is not None
            with self._digests.deferred() if self._digests is not None else contextlib.nullcontext():
                for rel, file, st, tmp, digest, size in staged:
                    if tmp is not None:
                        self._place(tmp, digest, size, sync=False)
                        trusted = self._remember(file, st, digest) and trusted
                    entries[rel] = ManifestEntry(digest, size)
                    hashed.append((rel, str(file), st))
                manifest = self.put_bytes(encode_manifest(entries))
            folder = Blob(manifest.digest, sum(e.size for e in entries.values()), kind="dir")
            if trusted and self._digests is not None:
                self._digests.put_dir(base, fingerprint(hashed), folder.digest, folder.size)
            return folder

        return StagedBlob(commit, discard)

    def _remember(self, file: Path, st: os.stat_result, digest: str) -> bool:
        """Record ``file``'s digest in the cache when its stat can be trusted; says whether it could."""
        # remember the digest only if the file did not change while it was read, and not within the
        # timestamp granularity of now (a same-size rewrite in the same tick would look unchanged)
        unchanged = stat_key(os.stat(file)) == stat_key(st)
        trusted = self._digests is not None and unchanged and time.time_ns() - st.st_mtime_ns > RACY_NS
        if trusted:
            assert self._digests is not None
            self._digests.put(file, st, digest)
        return trusted

    def put_dir(self, path: str | Path) -> Blob:
        """Store every file and the manifest; when every file could be trusted, the manifest is recorded
        under the folder's fingerprint, so that re-adding the unchanged folder is one lookup."""
        base, files = scan_dir(path)  # walk everything first, so a refused symlink leaves no orphan blobs
        entries: dict[str, ManifestEntry] = {}
        hashed: list[ScannedFile] = []
        trusted = self._digests is not None
        with self._digests.deferred() if self._digests is not None else contextlib.nullcontext():
            with self._sync_files():
                for rel, real, _ in files:
                    blob, st, ok = self._put_file(real)
                    entries[rel] = ManifestEntry(blob.digest, blob.size)
                    hashed.append((rel, real, st))
                    trusted = trusted and ok
            manifest = self.put_bytes(encode_manifest(entries))
        folder = Blob(manifest.digest, sum(e.size for e in entries.values()), kind="dir")
        if trusted and self._digests is not None:
            self._digests.put_dir(base, fingerprint(hashed), folder.digest, folder.size)
        return folder

    def known_blob(self, path: str | Path) -> Blob | None:
        return None if self._digests is None else known_blob(self._root, self._digests, path)

    @contextlib.contextmanager
    def _sync_files(self) -> Iterator[None]:
        """Store a folder's files without an fsync each (two per file cost more than copying small files),
        then make them all durable with one sync before the manifest that refers to them is written."""
        self._batch_sync = True
        try:
            yield
        finally:
            self._batch_sync = False
        if hasattr(os, "sync"):
            os.sync()

    def cached_digest(self, file: Path, st: os.stat_result | None = None) -> str | None:
        if self._digests is None:
            return None
        file = Path(os.path.abspath(file))
        digest = self._digests.get(file, os.stat(file) if st is None else st)
        return digest if digest is not None and self.exists(digest) else None

    def _ingest(self, stream: BinaryIO) -> Blob:
        return self._place(*self._write_tmp(stream))

    def _write_tmp(self, stream: BinaryIO, sync: bool = True) -> tuple[Path, str, int]:
        """Copy ``stream`` into a new temporary file, hashing it; durable unless a batch sync follows."""
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="put-", suffix=".tmp")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                digest, size = copy_and_hash(stream, out)
                out.flush()
                if sync and not self._batch_sync:
                    os.fsync(out.fileno())  # the bytes are on disk before the name that promises them
            os.chmod(tmp, _READ_ONLY)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return tmp, digest, size

    def _place(self, tmp: Path, digest: str, size: int, sync: bool = True) -> Blob:
        try:
            target = self._path(digest)
            # a same-size copy is trusted (content is checked on read and by doctor); a short one is replaced
            if target.is_file() and target.stat().st_size == size:
                tmp.unlink()
            else:
                target.parent.mkdir(exist_ok=True)
                # atomic; a concurrent writer of the same bytes just renames identical content over it
                os.replace(tmp, target)
                if sync and not self._batch_sync:
                    _fsync_dir(target.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Blob(digest, size)

    # -- reading (verified)
    def get_bytes(self, digest: str) -> bytes:
        with self._open_object(digest) as f:
            data = f.read()
        actual = hash_bytes(data)
        if actual != digest:
            raise integrity_error(digest, actual, self.root)
        return data

    def open(self, digest: str) -> BinaryIO:
        return verifying_stream(self._open_object(digest), digest, self.root)

    def get_file(self, digest: str, dest: str | Path) -> Path:
        with self._open_object(digest) as f:
            return write_verified(f, digest, dest, self.root)

    def get_dir(self, digest: str, dest: str | Path) -> Path:
        return restore_dir(self, digest, dest)

    def read_manifest(self, digest: str) -> dict[str, ManifestEntry]:
        return load_manifest(self, digest)

    # -- housekeeping
    def exists(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def verify(self, digest: str) -> bool:
        try:
            with self._open_object(digest) as f:
                return copy_and_hash(f)[0] == digest
        except BlobNotFoundError:
            return False

    def delete(self, digest: str) -> None:
        path = self._path(digest)
        try:
            path.unlink(missing_ok=True)
        except PermissionError:  # Windows refuses to delete read-only files
            path.chmod(stat.S_IWRITE | stat.S_IREAD)
            path.unlink(missing_ok=True)
        # the fan-out folder stays: removing it could race a writer about to rename into it

    def iter_objects(self) -> Iterator[StoredObject]:
        for fan in sorted(self._objects.iterdir()):
            if not fan.is_dir():
                continue
            for entry in sorted(fan.iterdir()):
                digest = fan.name + entry.name
                if not is_digest(digest):
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:  # deleted while we listed
                    continue
                yield StoredObject(digest, st.st_size, datetime.fromtimestamp(st.st_mtime, tz=UTC))

    def local_path(self, digest: str) -> Path | None:
        path = self._path(digest)
        return path if path.is_file() else None

    def clean_tmp(self, older_than: float) -> int:
        """Remove temporary files last written ``older_than`` seconds ago or more (left by killed writers)."""
        if not older_than >= 0:
            raise InvalidArgumentError(f"older_than={older_than!r} must be a number of seconds >= 0.")
        cutoff = time.time() - older_than
        removed = 0
        for entry in self._tmp.iterdir():
            with contextlib.suppress(FileNotFoundError):  # a writer may finish and rename it meanwhile
                if entry.is_file() and entry.stat().st_mtime <= cutoff:
                    entry.unlink()
                    removed += 1
        return removed

    # -- internals
    def _path(self, digest: str) -> Path:
        check_digest(digest)
        return self._objects / digest[:2] / digest[2:]

    def _open_object(self, digest: str) -> io.BufferedReader:
        try:
            return open(self._path(digest), "rb")
        except FileNotFoundError:
            raise BlobNotFoundError(f"no blob {digest} in the artifact store at {self.root}.") from None


def _in_thread(work: Callable[[], None]) -> Callable[[], None]:
    """Start ``work`` in a thread; the function returned waits for it and raises what it raised."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as exc:  # handed to the waiting caller
            failure.append(exc)

    worker = threading.Thread(target=run, name="loopml-stage", daemon=True)
    worker.start()

    def wait() -> None:
        worker.join()
        if failure:
            raise failure[0]

    return wait


_SMALL = 1 << 20


def _fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable; only POSIX can open a folder for this."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["LocalArtifactStore"]
