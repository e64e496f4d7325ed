"""What a command prints for scripts, and a version's one-line summary: kept free of typer and rich, so that
the quick answer of ``loopml data add`` prints exactly what the command itself prints."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.store import DatasetVersion


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default, allow_nan=False) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def version_dict(v: DatasetVersion) -> dict[str, Any]:
    data = asdict(v)
    data["ref"] = v.ref
    data["status"] = v.status.value
    data["created_at"] = v.created_at
    data["tags"] = list(v.tags)
    return data


def fmt_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def added_summary(version: DatasetVersion) -> str:
    """What ``loopml data add`` prints (rich markup) for the version it added or found."""
    return (
        f"[bold]{version.ref}[/]  {version.num_rows:,} rows, {fmt_bytes(version.num_bytes)}, "
        f"digest {version.digest[:16]}" + (f", tags {', '.join(version.tags)}" if version.tags else "")
    )
