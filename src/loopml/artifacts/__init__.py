"""Content-addressed blob storage (blake3), deduplicated and verified on every read."""

from pathlib import Path

from loopml.artifacts._base import ArtifactStore, Blob, ManifestEntry, StagedBlob, StoredObject
from loopml.artifacts._hashing import hash_bytes, hash_file, is_digest
from loopml.artifacts._local import LocalArtifactStore
from loopml.artifacts._memory import MemoryArtifactStore
from loopml.errors import InvalidArgumentError


def open_artifact_store(root: str) -> ArtifactStore:
    """The store at ``root``, a local folder path or ``file://`` URL (no other scheme is available yet)."""
    if "://" in root:
        scheme, _, rest = root.partition("://")
        if scheme != "file":
            raise InvalidArgumentError(
                f"artifact root {root!r}: the {scheme}:// store is not available; use a local folder path."
            )
        root = rest
    return LocalArtifactStore(Path(root))


__all__ = [
    "ArtifactStore",
    "Blob",
    "LocalArtifactStore",
    "ManifestEntry",
    "MemoryArtifactStore",
    "StagedBlob",
    "StoredObject",
    "hash_bytes",
    "hash_file",
    "is_digest",
    "open_artifact_store",
]
