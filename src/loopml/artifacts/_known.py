"""Recognising a file or folder that is already stored from the digest cache alone, without reading it.

A file is known when the cache holds its digest for its current size, mtime, inode and device and the blob is
in the store. A folder is known when the cache holds a manifest for the fingerprint of all its files (one
lookup), or else when every one of its files is known (one query for the whole folder): its manifest is then
recorded under the folder's fingerprint for the next time. Files modified within the last second are never
trusted: a same-size rewrite within one timestamp tick would look unchanged.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from loopml.artifacts._blob import Blob, ManifestEntry, encode_manifest
from loopml.artifacts._digest_cache import DigestCache, stat_key
from loopml.artifacts._hashing import hash_bytes, is_digest
from loopml.artifacts._scan import fingerprint, newest_mtime_ns, scan_dir

RACY_NS = 1_000_000_000
CACHE_FILE = ("cache", "digests.sqlite")  # under the artifact root


def object_path(root: Path, digest: str) -> str:
    """Where the blob ``digest`` lies under the local artifact root ``root``."""
    return os.path.join(root, "objects", digest[:2], digest[2:])


def _stored(root: Path, digest: str) -> bool:
    return is_digest(digest) and os.path.isfile(object_path(root, digest))


def known_blob(root: Path, cache: DigestCache, path: str | Path) -> Blob | None:
    """What the local store at ``root`` would return for storing ``path``, when the cache says so."""
    given = Path(path)
    if not given.is_dir():
        file = Path(os.path.abspath(given))
        st = os.stat(file)
        digest = cache.get(file, st)
        return Blob(digest, st.st_size) if digest is not None and _stored(root, digest) else None
    base, files = scan_dir(given)
    if time.time_ns() - newest_mtime_ns(files) <= RACY_NS:
        return None
    print_ = fingerprint(files)
    hit = cache.get_dir(base, print_)
    if hit is not None and _stored(root, hit[0]):
        return Blob(hit[0], hit[1], kind="dir")
    if cache.readonly:  # recognising a folder file by file is left to a store that may record the result
        return None
    recorded = cache.get_under(base)
    entries: dict[str, ManifestEntry] = {}
    for rel, real, st in files:
        found = recorded.get(real)
        if found is None or found[0] != stat_key(st) or not _stored(root, found[1]):
            return None
        entries[rel] = ManifestEntry(found[1], st.st_size)
    manifest = hash_bytes(encode_manifest(entries))
    if not _stored(root, manifest):
        return None
    size = sum(e.size for e in entries.values())
    cache.put_dir(base, print_, manifest, size)
    return Blob(manifest, size, kind="dir")


def peek_known_blob(artifact_root: str | Path, path: str | Path) -> Blob | None:
    """``LocalArtifactStore(artifact_root).known_blob(path)`` when the cache alone makes it certain, read
    without creating or writing anything (for a quick answer before opening the store); None otherwise.

    A folder is only recognised by its fingerprint here; errors (a missing path, a bad symlink) propagate.
    """
    root = Path(artifact_root)
    cache = DigestCache(root.joinpath(*CACHE_FILE), readonly=True)
    try:
        return known_blob(root, cache, path)
    finally:
        cache.close()
