"""Derived versions: made from other versions by a function, declarative fixes or an as-of join, each
recording its parents and how it was made; and the lineage that walks back from a version to its sources."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loopml.data._api import _check_list, _store, check_options, get, load
from loopml.data._refs import check_name
from loopml.errors import InvalidArgumentError
from loopml.store import DatasetVersion
from loopml.tracking import TrackingClient, get_client

if TYPE_CHECKING:
    from loopml.data.checks import Check
    from loopml.data.fixes import Fix

Inputs = str | DatasetVersion | Sequence[str | DatasetVersion]


def _derive(
    name: str,
    inputs: Inputs,
    fn: Callable[..., Any],
    how: dict[str, Any],
    *,
    checks: Sequence[Check],
    on_fail: str,
    description: str,
    tags: Sequence[str],
    client: TrackingClient | None,
) -> DatasetVersion:
    """Check every argument, load the inputs, call ``fn`` on them, and store the result with its lineage."""
    check_name(name)
    tag_list = check_options(tags, on_fail)
    check_list = _check_list(checks)
    items = [inputs] if isinstance(inputs, str | DatasetVersion) else list(inputs)
    if not items:
        raise InvalidArgumentError("A derived version needs at least one input version.")
    client = client or get_client()
    parents = [v if isinstance(v, DatasetVersion) else get(v, client) for v in items]
    result = fn(*(load(v, client=client) for v in parents))
    if not (_is_frame(result) or type(result).__name__ == "Table"):
        raise InvalidArgumentError(
            f"{how.get('function', how['kind'])} returned a {type(result).__name__}; return a DataFrame."
        )
    return _store(
        name,
        result,
        check_list,
        on_fail,
        description,
        tag_list,
        client,
        parents=[v.id for v in parents],
        transform={**how, "inputs": [v.ref for v in parents]},
    )


def _is_frame(value: Any) -> bool:
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas")


def transform(
    name: str,
    inputs: Inputs,
    fn: Callable[..., Any],
    *,
    checks: Sequence[Check] = (),
    on_fail: str = "raise",
    description: str = "",
    tags: Sequence[str] = (),
    client: TrackingClient | None = None,
) -> DatasetVersion:
    """Make the next version of ``name`` as ``fn(*frames)`` of the versions ``inputs`` names.

    ``fn`` takes one DataFrame per input and returns a DataFrame (or an Arrow table). The new version
    records the input versions as its parents and ``fn`` (its qualified name and a digest of its source)
    as the transformation, so ``lineage`` can walk back to the sources.
    """
    from loopml.artifacts import hash_bytes

    if not callable(fn):
        raise InvalidArgumentError(f"transform needs a function of DataFrames, got {fn!r}.")
    try:
        source_digest: str | None = hash_bytes(inspect.getsource(fn).encode())
    except (OSError, TypeError):  # built-ins and functions typed into a console have no source file
        source_digest = None
    how = {
        "kind": "python",
        "function": f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}",
        "source_digest": source_digest,
    }
    return _derive(
        name,
        inputs,
        fn,
        how,
        checks=checks,
        on_fail=on_fail,
        description=description,
        tags=tags,
        client=client,
    )


def clean(
    source: str | DatasetVersion,
    steps: Sequence[Fix],
    *,
    name: str | None = None,
    checks: Sequence[Check] = (),
    on_fail: str = "raise",
    description: str = "",
    tags: Sequence[str] = (),
    client: TrackingClient | None = None,
) -> DatasetVersion:
    """Apply declarative fixes (``lm.data.fixes``) in order and store the result as a derived version of
    ``name`` (by default the source's own dataset)."""
    from loopml.data.fixes import Fix

    fixes = list(steps)
    if not fixes or not all(isinstance(f, Fix) for f in fixes):
        raise InvalidArgumentError(
            "clean needs a list of fixes from lm.data.fixes (drop_duplicates, clip, ...)."
        )

    def apply(frame: Any) -> Any:
        for fix in fixes:
            frame = fix.apply(frame)
        return frame

    parent = source if isinstance(source, DatasetVersion) else get(source, client or get_client())
    how = {"kind": "fixes", "steps": [f.describe() for f in fixes]}
    return _derive(
        name or parent.name,
        parent,
        apply,
        how,
        checks=checks,
        on_fail=on_fail,
        description=description,
        tags=tags,
        client=client,
    )


def join_asof(
    left: str | DatasetVersion,
    right: str | DatasetVersion,
    *,
    on: str,
    by: str | Sequence[str] | None = None,
    tolerance: Any = None,
    name: str,
    checks: Sequence[Check] = (),
    on_fail: str = "raise",
    description: str = "",
    tags: Sequence[str] = (),
    client: TrackingClient | None = None,
) -> DatasetVersion:
    """Join each left row with the latest right row at or before its ``on`` value (never a later one),
    matching ``by`` columns and at most ``tolerance`` earlier (a pandas Timedelta, a string such as
    ``"5min"``, or a number); left rows with no such right row get nulls. Left rows keep their order."""
    import pandas as pd

    keys = [by] if isinstance(by, str) else list(by or [])
    tol = pd.Timedelta(tolerance) if isinstance(tolerance, str) else tolerance

    def join(left_frame: Any, right_frame: Any) -> Any:
        for side, frame in (("left", left_frame), ("right", right_frame)):
            missing = [c for c in [on, *keys] if c not in frame.columns]
            if missing:
                raise InvalidArgumentError(f"join_asof: the {side} data has no column(s) {missing}.")
            if frame[on].isna().any():
                raise InvalidArgumentError(
                    f"join_asof: the {side} data has nulls in {on!r}; drop or fill them."
                )
        order = "__loopml_row__"
        ordered = left_frame.assign(**{order: range(len(left_frame))}).sort_values(on, kind="stable")
        try:
            joined = pd.merge_asof(
                ordered,
                right_frame.sort_values(on, kind="stable"),
                on=on,
                by=keys or None,
                tolerance=tol,
                direction="backward",
                allow_exact_matches=True,
                suffixes=("", "_right"),
            )
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"join_asof: {exc}") from exc
        return joined.sort_values(order).drop(columns=[order]).reset_index(drop=True)

    how = {
        "kind": "join_asof",
        "on": on,
        "by": keys,
        "tolerance": None if tolerance is None else str(tolerance),
    }
    return _derive(
        name,
        [left, right],
        join,
        how,
        checks=checks,
        on_fail=on_fail,
        description=description,
        tags=tags,
        client=client,
    )


@dataclass(frozen=True)
class Lineage:
    """The versions a version was made from, back to its sources: ``edges`` go from child to parent."""

    root: DatasetVersion
    versions: dict[str, DatasetVersion]
    edges: list[tuple[str, str]]

    @property
    def sources(self) -> list[DatasetVersion]:
        """The versions at the start of the chain (added, not derived)."""
        return [v for v in self.versions.values() if not v.parents]

    def render(self) -> str:
        """The lineage as an indented tree, the version first and its parents below it."""
        lines: list[str] = []

        def walk(version: DatasetVersion, depth: int) -> None:
            how = version.transform or {}
            label = how.get("function") or how.get("kind") or "added"
            lines.append(f"{'  ' * depth}{version.ref}  ({label})")
            for parent in version.parents:
                walk(self.versions[parent], depth + 1)

        walk(self.root, 0)
        return "\n".join(lines)


def lineage(ref: str | DatasetVersion, client: TrackingClient | None = None) -> Lineage:
    """Walk from a version back through the versions it was derived from to its sources."""
    client = client or get_client()
    root = ref if isinstance(ref, DatasetVersion) else get(ref, client)
    versions = {root.id: root}
    edges: list[tuple[str, str]] = []
    pending = [root]
    while pending:
        version = pending.pop()
        for parent_id in version.parents:
            edges.append((version.id, parent_id))
            if parent_id not in versions:
                versions[parent_id] = client.store.datasets.get_by_id(parent_id)
                pending.append(versions[parent_id])
    return Lineage(root, versions, edges)
