"""The blob store interface: content-addressed by blake3, verified on read, deduplicated.

A blob is addressed by the hex blake3 digest of its bytes. A folder is stored as a *manifest*: a JSON blob
that maps each relative POSIX path to the digest and size of the file there; the folder is then addressed by
the manifest's digest. Implementations differ only in where bytes live (a local folder, memory, later S3).
"""

from __future__ import annotations

import abc
import contextlib
import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from loopml.artifacts._blob import (
    MANIFEST_FORMAT,
    Blob,
    ManifestEntry,
    decode_manifest,
    encode_manifest,
)
from loopml.artifacts._hashing import CHUNK_SIZE, copy_and_hash, hash_bytes, integrity_error, is_digest
from loopml.artifacts._paths import resolve_inside, safe_relative_path
from loopml.artifacts._scan import scan_dir
from loopml.errors import BlobNotFoundError, InvalidArgumentError, PathEscapeError

__all__ = [
    "MANIFEST_FORMAT",
    "ArtifactStore",
    "Blob",
    "ManifestEntry",
    "StoredObject",
    "decode_manifest",
    "encode_manifest",
    "list_dir_files",
    "load_manifest",
    "manifest_targets",
    "restore_dir",
    "store_dir",
    "write_verified",
]


class StagedBlob:
    """A file being stored in the background while the caller does other work with it: ``commit()`` waits
    and puts the blob in place (returning it), ``discard()`` drops it, leaving nothing behind."""

    def __init__(self, commit: Callable[[], Blob], discard: Callable[[], None] = lambda: None) -> None:
        self._commit, self._discard = commit, discard

    def commit(self) -> Blob:
        return self._commit()

    def discard(self) -> None:
        self._discard()


@dataclass(frozen=True)
class StoredObject:
    """One object as it lies in the store, for listing (``loopml gc``, ``loopml doctor``)."""

    digest: str
    size: int
    modified: datetime


class ArtifactStore(abc.ABC):
    """Content-addressed blob storage.

    Every write lands under a temporary name and is renamed into place, so a crash never leaves a partial
    object; writing content that is already stored is a no-op returning the same digest. Every read checks the
    content against its digest and raises ``IntegrityError`` on a mismatch.
    """

    root: str  # where blobs live, for messages

    # -- writing
    @abc.abstractmethod
    def put_bytes(self, data: bytes) -> Blob: ...

    @abc.abstractmethod
    def put_stream(self, stream: BinaryIO) -> Blob:
        """Store everything read from ``stream`` (read in chunks, never whole in memory)."""

    @abc.abstractmethod
    def put_file(self, path: str | Path) -> Blob: ...

    def stage_file(self, path: str | Path) -> StagedBlob:
        """Start storing ``path``; stores that can copy in the background do so until ``commit()``."""
        return StagedBlob(lambda: self.put_file(path))

    def stage_dir(self, path: str | Path) -> StagedBlob:
        """Start storing the folder ``path`` as ``put_dir`` would; ``commit()`` returns its manifest blob."""
        list_dir_files(path)  # a folder with a bad link is refused now, as put_dir would
        return StagedBlob(lambda: self.put_dir(path))

    @abc.abstractmethod
    def put_dir(self, path: str | Path) -> Blob:
        """Store every file under ``path`` and a manifest of them; refuse symlinks that leave ``path``."""

    # -- reading (verified)
    @abc.abstractmethod
    def get_bytes(self, digest: str) -> bytes: ...

    @abc.abstractmethod
    def open(self, digest: str) -> BinaryIO:
        """A stream of the blob's bytes; reading it to the end raises ``IntegrityError`` on a mismatch."""

    @abc.abstractmethod
    def get_file(self, digest: str, dest: str | Path) -> Path:
        """Write the blob to ``dest`` (atomically, verified) and return ``dest``."""

    @abc.abstractmethod
    def get_dir(self, digest: str, dest: str | Path) -> Path:
        """Recreate the folder whose manifest is ``digest`` under ``dest``; refuse paths that escape it."""

    @abc.abstractmethod
    def read_manifest(self, digest: str) -> dict[str, ManifestEntry]:
        """The entries of the manifest stored under ``digest`` (``InvalidArgumentError`` if it is not one)."""

    # -- housekeeping
    @abc.abstractmethod
    def exists(self, digest: str) -> bool: ...

    @abc.abstractmethod
    def verify(self, digest: str) -> bool:
        """True when the blob exists and its bytes hash to ``digest``."""

    @abc.abstractmethod
    def delete(self, digest: str) -> None: ...

    @abc.abstractmethod
    def iter_objects(self) -> Iterator[StoredObject]: ...

    def cached_digest(self, file: Path, st: os.stat_result | None = None) -> str | None:
        """The digest of the local ``file`` when it is known without reading it and its blob is stored."""
        return None

    def known_blob(self, path: str | Path) -> Blob | None:
        """What ``put_file`` or ``put_dir`` would return for ``path``, when that is known without reading a
        single file (every file unchanged since it was stored); None otherwise."""
        given = Path(path)
        if not given.is_dir():
            digest = self.cached_digest(given)
            return None if digest is None else Blob(digest, given.stat().st_size)
        entries: dict[str, ManifestEntry] = {}
        for rel, real, st in scan_dir(given)[1]:
            digest = self.cached_digest(Path(real), st)
            if digest is None:
                return None
            entries[rel] = ManifestEntry(digest, st.st_size)
        manifest = hash_bytes(encode_manifest(entries))
        if not self.exists(manifest):
            return None
        return Blob(manifest, sum(e.size for e in entries.values()), kind="dir")

    def local_path(self, digest: str) -> Path | None:
        """The blob's file on this machine, when it has one (used to read without copying)."""
        return None


# -- helpers shared by the implementations: folders, manifests and verified restores are store-agnostic


def store_dir(
    store: ArtifactStore,
    path: str | Path,
    before_manifest: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext,
) -> Blob:
    """Store every file under ``path`` and their manifest; nothing is stored if the folder has a bad link.

    The files are stored inside ``before_manifest()``, which a store uses to make them durable in one go.
    """
    files = list_dir_files(path)  # walk everything first, so a refused symlink leaves no orphan blobs
    entries: dict[str, ManifestEntry] = {}
    with before_manifest():
        for rel, file in files:
            blob = store.put_file(file)
            entries[rel] = ManifestEntry(blob.digest, blob.size)
    manifest = store.put_bytes(encode_manifest(entries))
    return Blob(manifest.digest, sum(e.size for e in entries.values()), kind="dir")


def restore_dir(store: ArtifactStore, digest: str, dest: str | Path) -> Path:
    """Recreate the folder of manifest ``digest`` under ``dest``, checking every path before writing any."""
    dest = Path(dest)
    targets = manifest_targets(store.read_manifest(digest), dest, digest)
    missing = sorted({e.digest for _, e in targets if not store.exists(e.digest)})
    if missing:
        raise BlobNotFoundError(
            f"folder {digest} lists {len(missing)} blob(s) missing from {store.root}, "
            f"first {missing[0]}; run `loopml doctor`."
        )
    dest.mkdir(parents=True, exist_ok=True)
    for target, entry in targets:
        store.get_file(entry.digest, target)
    return dest


def list_dir_files(path: str | Path) -> list[tuple[str, Path]]:
    """(relative POSIX path, real file) for each regular file under ``path``, in name order, folder by folder.

    A symlink is read as its target when the target lies inside ``path``; one that resolves outside raises
    ``PathEscapeError``. Sockets, FIFOs and devices are skipped: they have no content to store.
    """
    return [(rel, Path(real)) for rel, real, _ in scan_dir(path)[1]]


def manifest_targets(
    entries: dict[str, ManifestEntry], dest: str | Path, digest: str
) -> list[tuple[Path, ManifestEntry]]:
    """Where each manifest entry goes under ``dest``; ``PathEscapeError`` if any would land outside it."""
    targets: list[tuple[Path, ManifestEntry]] = []
    for rel, entry in sorted(entries.items()):
        try:
            # a manifest holds paths as put_dir wrote them: normalised already, so "./x" is refused too
            if safe_relative_path(rel) != rel:
                raise PathEscapeError("it is not in normal form")
            target = resolve_inside(Path(dest), rel)  # also refuses a symlink already in dest leading out
        except PathEscapeError as e:
            raise _escape(rel, dest, digest, str(e)) from None
        targets.append((target, entry))
    files = set(entries)
    for rel in sorted(files):
        parts = rel.split("/")
        for i in range(1, len(parts)):
            if "/".join(parts[:i]) in files:
                raise InvalidArgumentError(
                    f"manifest {digest} lists {rel!r} inside {'/'.join(parts[:i])!r}, which is a file."
                )
    return targets


def _escape(rel: str, dest: str | Path, digest: str, why: str) -> PathEscapeError:
    return PathEscapeError(
        f"manifest {digest} has entry {rel!r}, which is not a relative path inside {dest} ({why}); "
        "refusing to restore it (nothing was written)."
    )


def load_manifest(store: ArtifactStore, digest: str) -> dict[str, ManifestEntry]:
    """The entries of manifest ``digest`` (verified); ``InvalidArgumentError`` if it is not a manifest."""
    with store.open(digest) as stream:
        head = stream.read(CHUNK_SIZE)
        if not head.lstrip().startswith(b"{"):  # not JSON: don't load a large file blob to find out
            raise _not_manifest(digest)
        data = head + stream.read()
    entries = decode_manifest(data)
    if entries is None or not all(is_digest(e.digest) for e in entries.values()):
        raise _not_manifest(digest)
    return entries


def _not_manifest(digest: str) -> InvalidArgumentError:
    return InvalidArgumentError(f"blob {digest} is not a folder manifest; read it as a file instead.")


def write_verified(source: BinaryIO, digest: str, dest: str | Path, where: str) -> Path:
    """Copy ``source`` to ``dest`` via a temporary file beside it, renamed in only if ``digest`` matches."""
    import secrets  # hmac and OpenSSL: not loaded to recognise stored content

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name[:200]}.{secrets.token_hex(6)}.part")
    # 0o666 lets the umask decide the restored file's mode, as for any file the user creates
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            actual, _ = copy_and_hash(source, out)
        if actual != digest:
            raise integrity_error(digest, actual, where)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return dest
