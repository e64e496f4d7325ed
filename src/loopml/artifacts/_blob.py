"""What the blob store hands out: a blob's address and size, and a folder's manifest.

A folder is stored as a *manifest*: a JSON blob that maps each relative POSIX path to the digest and size of
the file there; the folder is then addressed by the manifest's digest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MANIFEST_FORMAT = "loopml.manifest/1"


@dataclass(frozen=True)
class Blob:
    """What was stored: the digest that addresses it, its size in bytes, and whether it is a manifest."""

    digest: str
    size: int
    kind: str = "file"  # "file" or "dir" (the digest is then a manifest's)


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
    try:
        return {path: ManifestEntry(v["digest"], int(v["size"])) for path, v in doc["files"].items()}
    except (KeyError, TypeError, ValueError, AttributeError):  # the format tag is right, the body is not
        return None
