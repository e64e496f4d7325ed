"""``loopml predictions MODEL``: what the model server logged for a model, with ground truth where it came."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from loopml.cli._app import app
from loopml.cli._output import clean_floats, console, fmt_time, print_json, table
from loopml.errors import InvalidArgumentError, NotFoundError

if TYPE_CHECKING:
    import pandas as pd

_AGO = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@app.command("predictions")
def predictions_cmd(
    model: str = typer.Argument(..., help="The model's name, as the server logged it."),
    since: str | None = typer.Option(
        None, "--since", help="Only requests from this long ago (30m, 2h, 7d) or after this time (ISO 8601)."
    ),
    version: int | None = typer.Option(None, "--version", "-v", help="Only this model version."),
    route: str | None = typer.Option(None, "--route", help="Only champion, canary or shadow."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many of the newest rows to show."),
    summary: bool = typer.Option(
        False, "--summary", help="Requests, latency and labels per version and route, instead of rows."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show the prediction log: the newest requests a server answered for MODEL (inputs with --json), or a
    summary per version and route, with the ground truth that has arrived for them."""
    from loopml.monitoring import join_labels, read_labels, read_predictions
    from loopml.monitoring._segments import ROUTES
    from loopml.tracking import get_client

    if route is not None and route not in ROUTES:
        raise InvalidArgumentError(f"--route is one of {', '.join(ROUTES)}, not {route!r}.")
    since_ms = None if since is None else parse_since(since)
    client = get_client()
    store = client.store
    segments = store.predictions.segments(model, since_ms, None)
    if not segments:
        logged = store.predictions.models()
        where = "" if since is None else f" since {since}"
        known = f"; models with predictions: {', '.join(logged)}" if logged else "; none is logged yet"
        raise NotFoundError(f"No predictions are logged for {model!r}{where}{known}.")
    if not summary:  # read only the newest segments that hold enough rows
        newest, rows = [], 0
        for segment in sorted(segments, key=lambda s: s.max_ts, reverse=True):
            newest.append(segment)
            rows += segment.num_rows
            if rows >= limit * 4:  # filters on version or route may leave fewer: read some more
                break
        since_ms = max(since_ms or 0, min(s.min_ts for s in newest))
    frame = read_predictions(store, client.artifacts, model, since_ms=since_ms, version=version, route=route)
    frame = join_labels(frame, read_labels(store, model, set(frame["request_id"])))
    if summary:
        _show_summary(model, frame, as_json)
    else:
        _show_rows(model, frame.tail(limit), as_json)


def parse_since(text: str) -> int:
    """``30m``, ``2h``, ``7d`` (ago) or an ISO 8601 time (UTC unless it says otherwise) as epoch ms."""
    match = _AGO.match(text.strip())
    if match:
        return int((time.time() - float(match.group(1)) * _UNIT_S[match.group(2)]) * 1000)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidArgumentError(
            f"--since takes a span such as 30m, 2h or 7d, or a time such as 2026-05-01T12:00, not {text!r}."
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def _outputs(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c == "output" or c.startswith("output.")]


def _show_rows(model: str, frame: pd.DataFrame, as_json: bool) -> None:
    if as_json:
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        print_json(clean_floats(records))
        return
    outputs = _outputs(frame)
    rows = []
    for record in frame.to_dict(orient="records"):
        shown = ", ".join(_plain(record[c]) for c in outputs)
        rows.append(
            (
                fmt_time(int(record["timestamp_ms"])),
                record["request_id"] + ("" if record["row"] == 0 else f" #{record['row']}"),
                f"{record['model_version']} {record['route']}",
                f"{record['latency_ms']:.1f} ms",
                shown,
                _plain(record.get("label")),
            )
        )
    table(
        f"Predictions of {model} (newest {len(rows)})",
        ["Time (UTC)", "Request", "Version", "Latency", "Output", "Label"],
        rows,
    )


def _show_summary(model: str, frame: pd.DataFrame, as_json: bool) -> None:
    groups: list[dict[str, Any]] = []
    key: Any
    for key, part in frame.groupby(["model_version", "route"], sort=True):
        version, route = key
        latency = part.drop_duplicates("request_id")["latency_ms"]
        groups.append(
            {
                "version": int(version),
                "route": str(route),
                "requests": int(part["request_id"].nunique()),
                "rows": len(part),
                "labelled_rows": int(part["label"].notna().sum()),
                "latency_p50_ms": float(latency.quantile(0.5)),
                "latency_p95_ms": float(latency.quantile(0.95)),
                "first_ms": int(part["timestamp_ms"].min()),
                "last_ms": int(part["timestamp_ms"].max()),
            }
        )
    if as_json:
        print_json(clean_floats({"model": model, "groups": groups}))
        return
    table(
        f"Prediction log of {model}",
        ["Version", "Route", "Requests", "Rows", "Labelled", "p50", "p95", "Last (UTC)"],
        [
            (
                g["version"],
                g["route"],
                f"{g['requests']:,}",
                f"{g['rows']:,}",
                f"{g['labelled_rows']:,} ({g['labelled_rows'] / g['rows']:.0%})",
                f"{g['latency_p50_ms']:.1f} ms",
                f"{g['latency_p95_ms']:.1f} ms",
                fmt_time(g["last_ms"]),
            )
            for g in groups
        ],
    )
    if not groups:
        console.print("No rows match the filters.")


def _plain(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
