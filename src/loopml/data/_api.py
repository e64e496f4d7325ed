"""``lm.data``: add, load and tag dataset versions; inside a run, what it reads and writes is recorded."""

from __future__ import annotations

import platform
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._version import package_versions
from loopml.data._refs import DatasetRef, check_name, parse_ref
from loopml.errors import DataCheckError, InvalidArgumentError, NotFoundError
from loopml.store import DatasetStatus, DatasetVersion
from loopml.tracking import TrackingClient, active_run, get_client

if TYPE_CHECKING:
    from loopml.data._profile import Profile
    from loopml.data.checks import Check, CheckReport

# pyarrow and the modules built on it load when data is read, not for an unchanged re-add or a lookup


class SchemaChangeWarning(UserWarning):
    """A new version's columns differ from the previous version's."""


class DataCheckWarning(UserWarning):
    """Data failed checks and was stored anyway (``on_fail="warn"`` or ``"quarantine"``)."""


ON_FAIL = ("raise", "warn", "quarantine")


def _environment() -> dict[str, str]:
    """The versions that wrote a dataset version (importing pandas to ask it costs 0.3 s)."""
    return {**package_versions("pyarrow", "pandas"), "python": platform.python_version()}


def add(
    name: str,
    source: Any,
    *,
    checks: Sequence[Check] = (),
    on_fail: str = "raise",
    description: str = "",
    tags: Sequence[str] = (),
    progress: Callable[[int, int | None], None] | None = None,
    client: TrackingClient | None = None,
) -> DatasetVersion:
    """Store ``source`` as the next version of dataset ``name``.

    Content that a version of ``name`` already holds returns that version as it is (checks are not run
    again); a file or folder unchanged since it was added is recognised from cached digests without reading.

    ``source`` is a pandas DataFrame, a PyArrow table, a .parquet or .csv file, or a folder of Parquet files.
    ``checks`` run while the data is read; when one fails, ``on_fail`` decides: ``"raise"`` stores nothing
    and raises ``DataCheckError``, ``"warn"`` stores the version and warns, ``"quarantine"`` stores it
    marked quarantined (kept, never resolved by ``@latest``) and warns. The report is kept with the version.
    ``tags`` name this version (``sensors@prod``) and move here from any older version. Inside a run, the
    version is recorded as the run's output. ``progress(rows_read, total_rows_or_None)`` is called as the
    data is read.
    """
    check_name(name)
    tags = check_options(tags, on_fail)
    checks = _check_list(checks)
    client = client or get_client()
    unchanged = _unchanged_version(client, name, source)
    if unchanged is not None:
        for tag_name in tags:
            unchanged = client.store.datasets.set_tag(name, tag_name, unchanged.version)
        _record(client, unchanged, "output")
        return unchanged
    return _store(name, source, checks, on_fail, description, tags, client, progress=progress)


def _store(
    name: str,
    source: Any,
    checks: list[Check],
    on_fail: str,
    description: str,
    tags: list[str],
    client: TrackingClient,
    parents: Sequence[str] = (),
    transform: dict[str, Any] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
) -> DatasetVersion:
    from loopml.data import _sources
    from loopml.data._schema import schema_changes

    previous = _newest(client, name)

    def gate(report: CheckReport) -> None:
        if not report.passed and on_fail == "raise":
            raise DataCheckError(
                f"{name}: {report.summary()}. Nothing was stored; fix the data, or pass "
                "on_fail='warn' or 'quarantine' to keep it.",
                report,
            )

    ingested = _sources.ingest(source, client.artifacts, checks, gate, progress)
    # the profile blob goes first: a version row never refers to a blob that is not there
    profile_blob = client.artifacts.put_bytes(ingested.profile.to_bytes())
    failed = ingested.report is not None and not ingested.report.passed
    status = DatasetStatus.QUARANTINED if failed and on_fail == "quarantine" else DatasetStatus.OK
    version, created = client.store.datasets.add_version(
        name,
        digest=ingested.blob.digest,
        kind=ingested.blob.kind,
        num_rows=ingested.num_rows,
        num_bytes=ingested.blob.size,
        schema=ingested.schema,
        status=status,
        description=description,
        environment=_environment(),
        created_ms=client.now_ms(),
        tags=tags,
        checks=None if ingested.report is None else ingested.report.to_dict(),
        parents=parents,
        transform=transform,
        profile_digest=profile_blob.digest,
    )
    if failed and created:
        assert ingested.report is not None
        what = "quarantined" if status is DatasetStatus.QUARANTINED else "stored"
        warnings.warn(f"{version.ref} {what}: {ingested.report.summary()}.", DataCheckWarning, stacklevel=2)
    if created and previous is not None:
        changes = schema_changes(previous.schema, version.schema)
        if changes:
            warnings.warn(
                f"{version.ref} has another schema than {previous.ref}: {'; '.join(changes)}.",
                SchemaChangeWarning,
                stacklevel=2,
            )
    _record(client, version, "output")
    return version


def _unchanged_version(client: TrackingClient, name: str, source: Any) -> DatasetVersion | None:
    """The version already holding ``source``, found from cached file digests without reading any file."""
    if not isinstance(source, str | Path) or not Path(source).exists():
        return None
    known = client.artifacts.known_blob(source)
    return None if known is None else client.store.datasets.find_version(name, known.digest)


def _check_list(checks: Sequence[Check] | Check) -> list[Check]:
    if isinstance(checks, list | tuple) and not checks:
        return []
    from loopml.data.checks import Check

    items: list[Any] = [checks] if isinstance(checks, Check) else list(checks)
    for item in items:
        if not isinstance(item, Check):
            raise InvalidArgumentError(
                f"{item!r} is not a check; build checks with lm.data.checks (not_null, in_range, custom…)."
            )
    return items


def validate(
    ref: str | DatasetRef | DatasetVersion, checks: Sequence[Check], client: TrackingClient | None = None
) -> CheckReport:
    """Run ``checks`` over a stored version (read in record batches); the version itself is not changed."""
    from loopml.data._sources import read_stored
    from loopml.data.checks import run_checks

    client = client or get_client()
    version = ref if isinstance(ref, DatasetVersion) else get(ref, client)
    items = _check_list(checks)
    with read_stored(client.artifacts, version.digest, version.kind) as (schema, batches):
        return run_checks(items, schema, batches)


def profile(ref: str | DatasetRef | DatasetVersion, client: TrackingClient | None = None) -> Profile:
    """The profile of a version: per column counts, nulls, distinct values, moments, quantiles, a histogram
    or the top values, from mergeable sketches (``a.merge(b)`` is the profile of the union).

    Versions get their profile when they are added; one stored before profiles existed is profiled now
    (read in record batches) and the result kept.
    """
    from loopml.data._profile import Profile

    client = client or get_client()
    version = ref if isinstance(ref, DatasetVersion) else get(ref, client)
    if version.profile_digest is not None:
        return Profile.from_bytes(client.artifacts.get_bytes(version.profile_digest))
    built = _profile_stored(version, client)
    blob = client.artifacts.put_bytes(built.to_bytes())
    client.store.datasets.set_profile(version.id, blob.digest)
    return built


def _profile_stored(version: DatasetVersion, client: TrackingClient) -> Profile:
    from loopml.data._profile import build_profile
    from loopml.data._sources import read_stored

    with read_stored(client.artifacts, version.digest, version.kind) as (schema, batches):
        return build_profile(schema, batches, version.num_rows)


def check_tag(tag_name: str) -> str:
    check_name(tag_name, "tag")
    if tag_name == "latest":
        raise InvalidArgumentError("'latest' is not a tag you can set: it means the newest good version.")
    return tag_name


def check_options(tags: Sequence[str] | str, on_fail: str) -> list[str]:
    """The tags to set, checked, after checking ``on_fail``: what every way of storing a version takes."""
    if on_fail not in ON_FAIL:
        raise InvalidArgumentError(f"on_fail={on_fail!r}: use one of {', '.join(ON_FAIL)}.")
    return [check_tag(tag) for tag in ([tags] if isinstance(tags, str) else tags)]


def _newest(client: TrackingClient, name: str) -> DatasetVersion | None:
    try:
        versions = client.store.datasets.list_versions(name)
    except NotFoundError:
        return None
    return versions[-1] if versions else None


def get(ref: str | DatasetRef, client: TrackingClient | None = None) -> DatasetVersion:
    """The version a reference names: ``sensors`` or ``sensors@latest``, ``sensors:3``, ``sensors@prod``."""
    client = client or get_client()
    parsed = ref if isinstance(ref, DatasetRef) else parse_ref(ref)
    repo = client.store.datasets
    if parsed.version is not None:
        return repo.get_version(parsed.name, parsed.version)
    if parsed.tag == "latest":
        return repo.get_latest(parsed.name)
    return repo.get_tagged(parsed.name, parsed.tag)


def load(
    ref: str | DatasetRef | DatasetVersion,
    *,
    columns: Sequence[str] | None = None,
    as_arrow: bool = False,
    client: TrackingClient | None = None,
) -> Any:
    """Read a version (verified against its digest) as a DataFrame, or an Arrow table with ``as_arrow``.

    Inside a run, the version is recorded as the run's input.
    """
    import pyarrow.parquet as pq

    from loopml.data._sources import parquet_files

    client = client or get_client()
    version = ref if isinstance(ref, DatasetVersion) else get(ref, client)
    with tempfile.TemporaryDirectory(prefix="loopml-load-") as tmp:
        files = parquet_files(client.artifacts, version.digest, version.kind, Path(tmp))
        table = pq.ParquetDataset([str(f) for f in files]).read(columns=list(columns) if columns else None)
    _record(client, version, "input")
    return table if as_arrow else table.to_pandas()


def tag(ref: str, tag_name: str, client: TrackingClient | None = None) -> DatasetVersion:
    """Point ``tag_name`` at the version ``ref`` names (moving it from any other version)."""
    client = client or get_client()
    check_tag(tag_name)
    version = get(ref, client)
    return client.store.datasets.set_tag(version.name, tag_name, version.version)


def versions(name: str, client: TrackingClient | None = None) -> list[DatasetVersion]:
    return (client or get_client()).store.datasets.list_versions(check_name(name))


def _record(client: TrackingClient, version: DatasetVersion, direction: str) -> None:
    run = active_run()
    if run is not None and run.client is client:
        client.store.datasets.link_run(run.id, version.id, direction)
