"""How the CLI shows things: rich tables on a terminal, JSON for scripts, errors without tracebacks."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from loopml.cli._json import fmt_bytes, print_json
from loopml.errors import InvalidArgumentError

__all__ = [
    "clean_floats",
    "console",
    "err_console",
    "fmt_bytes",
    "fmt_duration",
    "fmt_number",
    "fmt_time",
    "print_json",
    "progress_bar",
    "table",
    "write_file",
]

console = Console()
err_console = Console(stderr=True)


def clean_floats(value: Any) -> Any:
    """JSON has no NaN: metrics that are NaN become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: clean_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_floats(v) for v in value]
    return value


# Columns whose text may wrap; the others keep to one line so ids and times stay readable.
_WRAPPING = {
    "Name",
    "Metrics",
    "Params",
    "Detail",
    "Value",
    "Path",
    "Artifacts",
    "Experiment",
    "Change",
    "Range / top values",
}


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    out = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        out.add_column(column, overflow="fold", no_wrap=column not in _WRAPPING)
    for row in rows:
        out.add_row(*("" if v is None else str(v) for v in row))
    console.print(out)


def write_file(path: Path, text: str) -> None:
    """Write a page or file the user named (``-o``); a path that cannot be written is one line, not a
    traceback."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidArgumentError(
            f"Cannot write {path}: {exc.strerror or exc}. Pass -o a file in a folder that exists."
        ) from None


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


def fmt_number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4g}"


@contextmanager
def progress_bar(description: str, quiet: bool = False) -> Iterator[Any]:
    """A progress bar on a terminal; silent when quiet or when output is not a terminal (CI, pipes)."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        disable=quiet or not err_console.is_terminal,
        transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update
