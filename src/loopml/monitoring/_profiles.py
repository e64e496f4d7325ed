"""Segment profiles: the statistics of each prediction-log segment, so windows merge without reading rows.

With every segment the writer stores one more blob: a profile (``loopml.data.Profile``) of the segment's
answered rows for each model version and route in it, over the columns a monitor compares (``input.*``,
``output*``, ``proba.*`` and ``latency_ms``), with the group's counts of rows, requests and error rows. A
window's statistics are the merge of its segments' profiles (``merge_segment_profiles``), days merge into
weeks the same way, and memory stays that of one profile whatever the window's size. Error rows count in
``errors`` and stay out of the profile, so drift never sees a request that was refused.

The blob is JSON::

    {"format": 1, "model": "churn", "profiles": [
        {"model_version": 3, "route": "champion", "rows": 812, "requests": 640, "errors": 2,
         "profile": {...Profile.to_dict()...}}, ...]}

A segment written before segments had profiles is profiled from its rows when read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidArgumentError
from loopml.monitoring._segments import ANSWERED, from_parquet, is_profiled

if TYPE_CHECKING:
    import pyarrow as pa

    from loopml.artifacts import ArtifactStore
    from loopml.data import Profile
    from loopml.store import PredictionSegment

FORMAT = 1
# quantile sketches of k=2,000 (rank error about 0.08 %): with the default 200, drift scores from merged
# windows miss the exact verdict on close calls by more than a tenth of the threshold (tests/monitoring/
# test_drift_profile.py); a segment of fewer rows keeps every value anyway
MONITOR_KLL_K = 2000


@dataclass(frozen=True)
class SegmentProfile:
    """What one model version answered on one route within a segment (or a window): ``rows`` answered
    rows (of ``requests`` requests) profiled in ``profile``, and ``errors`` failed requests (one row each,
    not in the profile)."""

    model_version: int
    route: str
    rows: int
    errors: int
    profile: Profile
    requests: int = 0

    def merge(self, other: SegmentProfile) -> SegmentProfile:
        """The two together (the same version and route, other rows)."""
        if (self.model_version, self.route) != (other.model_version, other.route):
            raise InvalidArgumentError(
                f"Cannot merge the profile of version {self.model_version} on {self.route!r} with that of "
                f"version {other.model_version} on {other.route!r}: they are different groups."
            )
        return SegmentProfile(
            self.model_version,
            self.route,
            self.rows + other.rows,
            self.errors + other.errors,
            self.profile.merge(other.profile),
            self.requests + other.requests,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "route": self.route,
            "rows": self.rows,
            "requests": self.requests,
            "errors": self.errors,
            "profile": self.profile.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegmentProfile:
        from loopml.data import Profile

        return cls(
            int(data["model_version"]),
            str(data["route"]),
            int(data["rows"]),
            int(data["errors"]),
            Profile.from_dict(data["profile"]),
            int(data.get("requests", 0)),
        )


def profile_segment(table: pa.Table) -> list[SegmentProfile]:
    """The profiles of a segment's table, one per (model version, route), ordered by both."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from loopml.data._profile import build_profile

    if "status" in table.column_names:
        answered = pc.fill_null(pc.equal(table["status"], ANSWERED), True)
    else:  # written before error rows existed: every row is an answer
        answered = pa.chunked_array([pa.array([True] * table.num_rows, pa.bool_())])
    keys = pa.table(
        {
            "model_version": table["model_version"],
            "route": table["route"],
            "ok": pc.cast(answered, pa.int64()),
            "failed": pc.cast(pc.invert(answered), pa.int64()),
        }
    )
    groups = keys.group_by(["model_version", "route"]).aggregate([("ok", "sum"), ("failed", "sum")])
    groups = groups.sort_by([("model_version", "ascending"), ("route", "ascending")])
    names = [c for c in table.column_names if is_profiled(c) and c != "latency_ms"]
    columns = table.select([*names, "latency_ms"])
    out: list[SegmentProfile] = []
    for group in groups.to_pylist():
        version, route = group["model_version"], group["route"]
        mask = answered
        if groups.num_rows > 1:
            mask = pc.and_(
                answered,
                pc.and_(pc.equal(table["model_version"], version), pc.equal(table["route"], route)),
            )
        rows = int(group["ok_sum"])
        part = columns if rows == table.num_rows else columns.filter(mask)
        requests = table["request_id"] if rows == table.num_rows else table["request_id"].filter(mask)
        profile = build_profile(part.schema, part.to_batches(), part.num_rows, threads=1, kll_k=MONITOR_KLL_K)
        out.append(
            SegmentProfile(
                int(version),
                str(route),
                rows,
                int(group["failed_sum"]),
                profile,
                int(pc.count_distinct(requests).as_py()) if rows else 0,
            )
        )
    return out


def encode(model: str, profiles: Sequence[SegmentProfile]) -> bytes:
    body = {"format": FORMAT, "model": model, "profiles": [p.to_dict() for p in profiles]}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def decode(data: bytes) -> list[SegmentProfile]:
    body = json.loads(data)
    if body.get("format") != FORMAT:
        raise InvalidArgumentError(
            f"This segment profile has format {body.get('format')!r}; this loopml reads format {FORMAT}. "
            "Upgrade loopml."
        )
    return [SegmentProfile.from_dict(p) for p in body["profiles"]]


def segment_profiles(artifacts: ArtifactStore, segment: PredictionSegment) -> list[SegmentProfile]:
    """The profiles of a prediction-log segment, one per (model version, route) in it, ordered by both.
    A segment written before segments had profiles is profiled from its rows now.

        for segment in store.predictions.segments("churn", since_ms, until_ms):
            for group in segment_profiles(artifacts, segment): ...
    """
    if segment.profile_digest is not None:
        return decode(artifacts.get_bytes(segment.profile_digest))
    return profile_segment(from_parquet(artifacts.get_bytes(segment.digest)))


def merge_segment_profiles(groups: Iterable[Iterable[SegmentProfile]]) -> list[SegmentProfile]:
    """Segments' profiles merged by (model version, route): a window's from its segments', ordered by both."""
    merged: dict[tuple[int, str], SegmentProfile] = {}
    for group in groups:
        for profile in group:
            key = (profile.model_version, profile.route)
            known = merged.get(key)
            merged[key] = profile if known is None else known.merge(profile)
    return [merged[k] for k in sorted(merged)]
