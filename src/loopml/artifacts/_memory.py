"""Blobs in a dict, for tests and throwaway sessions; behaves like the local store, verification included."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from loopml.artifacts._base import (
    ArtifactStore,
    Blob,
    ManifestEntry,
    StoredObject,
    load_manifest,
    restore_dir,
    store_dir,
    write_verified,
)
from loopml.artifacts._hashing import (
    check_digest,
    copy_and_hash,
    hash_bytes,
    integrity_error,
    verifying_stream,
)
from loopml.errors import BlobNotFoundError


class MemoryArtifactStore(ArtifactStore):
    """A content-addressed store that lives as long as the object."""

    def __init__(self) -> None:
        self.root = f"memory://{id(self):x}"
        self._blobs: dict[str, bytes] = {}
        self._modified: dict[str, datetime] = {}
        self._lock = threading.Lock()  # keeps a blob and its timestamp in step across threads

    def __repr__(self) -> str:
        return f"MemoryArtifactStore(<{len(self._blobs)} blobs>)"

    # -- writing
    def put_bytes(self, data: bytes) -> Blob:
        return self._add(hash_bytes(data), bytes(data))

    def put_stream(self, stream: BinaryIO) -> Blob:
        buffer = io.BytesIO()
        digest, _ = copy_and_hash(stream, buffer)
        return self._add(digest, buffer.getvalue())

    def put_file(self, path: str | Path) -> Blob:
        with open(path, "rb") as f:
            return self.put_stream(f)

    def put_dir(self, path: str | Path) -> Blob:
        return store_dir(self, path)

    def _add(self, digest: str, data: bytes) -> Blob:
        with self._lock:
            existing = self._blobs.get(digest)
            # the local store's rule: an existing same-size copy is kept, a different-size one replaced
            if existing is None or len(existing) != len(data):
                self._blobs[digest] = data
                self._modified[digest] = datetime.now(UTC)
        return Blob(digest, len(data))

    # -- reading (verified)
    def get_bytes(self, digest: str) -> bytes:
        data = self._data(digest)
        actual = hash_bytes(data)
        if actual != digest:
            raise integrity_error(digest, actual, self.root)
        return data

    def open(self, digest: str) -> BinaryIO:
        return verifying_stream(io.BytesIO(self._data(digest)), digest, self.root)

    def get_file(self, digest: str, dest: str | Path) -> Path:
        return write_verified(io.BytesIO(self._data(digest)), digest, dest, self.root)

    def get_dir(self, digest: str, dest: str | Path) -> Path:
        return restore_dir(self, digest, dest)

    def read_manifest(self, digest: str) -> dict[str, ManifestEntry]:
        return load_manifest(self, digest)

    # -- housekeeping
    def exists(self, digest: str) -> bool:
        return check_digest(digest) in self._blobs

    def verify(self, digest: str) -> bool:
        data = self._blobs.get(check_digest(digest))
        return data is not None and hash_bytes(data) == digest

    def delete(self, digest: str) -> None:
        check_digest(digest)
        with self._lock:
            self._blobs.pop(digest, None)
            self._modified.pop(digest, None)

    def iter_objects(self) -> Iterator[StoredObject]:
        with self._lock:
            listing = [(d, len(b), self._modified[d]) for d, b in sorted(self._blobs.items())]
        for digest, size, modified in listing:
            yield StoredObject(digest, size, modified)

    def local_path(self, digest: str) -> Path | None:
        check_digest(digest)  # no file to offer, but a bad digest is still the caller's error
        return None

    def _data(self, digest: str) -> bytes:
        data = self._blobs.get(check_digest(digest))
        if data is None:
            raise BlobNotFoundError(f"no blob {digest} in the artifact store at {self.root}.")
        return data


__all__ = ["MemoryArtifactStore"]
