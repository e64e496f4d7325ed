"""Checks and clean-up across the Store and the ArtifactStore: what ``loopml doctor`` and ``loopml gc`` do."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from loopml.artifacts import ArtifactStore
from loopml.errors import InvalidArgumentError, LoopmlError
from loopml.store._base import Store
from loopml.store._revisions import HEAD

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class DoctorReport:
    checks: list[Check] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line per missing or corrupt blob

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def referenced_blobs(store: Store, artifacts: ArtifactStore) -> tuple[set[str], list[str]]:
    """Every digest the Store refers to, plus the files of each folder manifest; and unreadable manifests."""
    roots = set(store.referenced_digests())
    found = set(roots)
    unreadable: list[str] = []
    for digest in roots:
        try:
            manifest = artifacts.read_manifest(digest)
        except InvalidArgumentError:
            continue  # a plain file, not a manifest
        except LoopmlError:
            unreadable.append(digest)
            continue
        found.update(entry.digest for entry in manifest.values())
    return found, unreadable


def doctor(store: Store, artifacts: ArtifactStore, progress: Progress | None = None) -> DoctorReport:
    report = DoctorReport()
    revision = store.schema_revision()
    report.checks.append(
        Check(
            "schema",
            revision == HEAD,
            f"at revision {revision} (current)"
            if revision == HEAD
            else f"at {revision}, loopml expects {HEAD}",
        )
    )
    digests, _ = referenced_blobs(store, artifacts)
    missing, corrupt = [], []
    ordered = sorted(digests)
    for n, digest in enumerate(ordered, 1):
        if not artifacts.exists(digest):
            missing.append(digest)
        elif not artifacts.verify(digest):
            corrupt.append(digest)
        if progress is not None:
            progress(n, len(ordered))
    report.problems = [f"missing {d}" for d in missing] + [f"corrupt {d}" for d in corrupt]
    report.checks.append(
        Check(
            "blobs",
            not missing and not corrupt,
            f"{len(ordered)} referenced, {len(missing)} missing, {len(corrupt)} not matching their digest",
        )
    )
    return report


@dataclass
class GcReport:
    removed: int
    freed_bytes: int
    kept: int
    temp_removed: int
    dry_run: bool


def collect_garbage(
    store: Store, artifacts: ArtifactStore, *, grace_seconds: float = 3600.0, dry_run: bool = False
) -> GcReport:
    """Remove blobs nothing refers to.

    Blobs younger than ``grace_seconds`` stay: a writer may have stored one and not yet recorded it.
    """
    referenced, unreadable = referenced_blobs(store, artifacts)
    if unreadable:
        raise LoopmlError(
            f"gc stopped: {len(unreadable)} folder manifest(s) cannot be read, so their files cannot be told "
            f"apart from garbage (first: {unreadable[0]}). Run `loopml doctor`."
        )
    cutoff = time.time() - grace_seconds
    removed = freed = kept = 0
    for obj in list(artifacts.iter_objects()):
        if obj.digest in referenced or obj.modified.timestamp() > cutoff:
            kept += 1
            continue
        removed += 1
        freed += obj.size
        if not dry_run:
            artifacts.delete(obj.digest)
    temp_removed = 0
    clean_tmp = getattr(artifacts, "clean_tmp", None)
    if clean_tmp is not None and not dry_run:
        temp_removed = int(clean_tmp(grace_seconds))
    return GcReport(removed, freed, kept, temp_removed, dry_run)
