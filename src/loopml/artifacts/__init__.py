"""Content-addressed blob storage (blake3), deduplicated and verified on every read.

Names resolve on first use, so that recognising stored content (``peek_known_blob``) loads only what it needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml._lazy import lazy_exports

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "ArtifactStore": "loopml.artifacts._base",
    "Blob": "loopml.artifacts._blob",
    "ManifestEntry": "loopml.artifacts._blob",
    "StagedBlob": "loopml.artifacts._base",
    "StoredObject": "loopml.artifacts._base",
    "hash_bytes": "loopml.artifacts._hashing",
    "hash_file": "loopml.artifacts._hashing",
    "is_digest": "loopml.artifacts._hashing",
    "peek_known_blob": "loopml.artifacts._known",
    "LocalArtifactStore": "loopml.artifacts._local",
    "MemoryArtifactStore": "loopml.artifacts._memory",
    "RemoteArtifactStore": "loopml.artifacts._remote",
    "resolve_inside": "loopml.artifacts._paths",
    "safe_relative_path": "loopml.artifacts._paths",
}


def open_artifact_store(root: str) -> ArtifactStore:
    """The store at ``root``, a local folder path or ``file://`` URL (no other scheme is available yet)."""
    from pathlib import Path

    from loopml.artifacts._local import LocalArtifactStore
    from loopml.errors import InvalidArgumentError

    if "://" in root:
        scheme, _, rest = root.partition("://")
        if scheme != "file":
            raise InvalidArgumentError(
                f"artifact root {root!r}: the {scheme}:// store is not available; use a local folder path."
            )
        root = rest
    return LocalArtifactStore(Path(root))


__getattr__ = lazy_exports(__name__, _EXPORTS)


if TYPE_CHECKING:
    from loopml.artifacts._base import ArtifactStore, StagedBlob, StoredObject
    from loopml.artifacts._blob import Blob, ManifestEntry
    from loopml.artifacts._hashing import hash_bytes, hash_file, is_digest
    from loopml.artifacts._known import peek_known_blob
    from loopml.artifacts._local import LocalArtifactStore
    from loopml.artifacts._memory import MemoryArtifactStore
    from loopml.artifacts._paths import resolve_inside, safe_relative_path
    from loopml.artifacts._remote import RemoteArtifactStore

__all__ = [
    "ArtifactStore",
    "Blob",
    "LocalArtifactStore",
    "ManifestEntry",
    "MemoryArtifactStore",
    "RemoteArtifactStore",
    "StagedBlob",
    "StoredObject",
    "hash_bytes",
    "hash_file",
    "is_digest",
    "open_artifact_store",
    "peek_known_blob",
    "resolve_inside",
    "safe_relative_path",
]
