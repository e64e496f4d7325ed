"""The blob store interface: content-addressed by blake3, verified on read, deduplicated.

A blob is addressed by the hex blake3 digest of its bytes. A folder is stored as a *manifest*: a JSON blob
that maps each relative POSIX path to the digest and size of the file there; the folder is then addressed by
the manifest's digest. Implementations differ only in where bytes live (a local folder, memory, later S3).
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

MANIFEST_FORMAT = "loopml.manifest/1"


@dataclass(frozen=True)
class Blob:
    """What was stored: the digest that addresses it, its size in bytes, and whether it is a folder manifest."""

    digest: str
    size: int
    kind: str = "file"  # "file" or "dir" (the digest is then a manifest's)


@dataclass(frozen=True)
class StoredObject:
    """One object as it lies in the store, for listing (``loopml gc``, ``loopml doctor``)."""

    digest: str
    size: int
    modified: datetime


@dataclass(frozen=True)
class ManifestEntry:
    digest: str
    size: int


def encode_manifest(entries: dict[str, ManifestEntry]) -> bytes:
    files = {path: {"digest": e.digest, "size": e.size} for path, e in sorted(entries.items())}
    return json.dumps({"format": MANIFEST_FORMAT, "files": files}, sort_keys=True).encode()


def decode_manifest(data: bytes) -> dict[str, ManifestEntry] | None:
    """The entries of a manifest blob, or None when ``data`` is not a manifest."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        return None
    return {path: ManifestEntry(v["digest"], int(v["size"])) for path, v in doc["files"].items()}


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

    def local_path(self, digest: str) -> Path | None:
        """The blob's file on this machine, when it has one (used to read without copying)."""
        return None
