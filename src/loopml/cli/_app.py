"""The ``loopml`` command: one typer app; each family of commands lives in its own module."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from loopml._version import __version__
from loopml.cli._output import err_console
from loopml.errors import LoopmlError


class _Group(TyperGroup):
    """Prints user errors as one red line, without a traceback, and exits 1."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except LoopmlError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
            raise typer.Exit(1) from None


def new_app(help: str) -> typer.Typer:
    return typer.Typer(
        cls=_Group, help=help, no_args_is_help=True, add_completion=False, pretty_exceptions_show_locals=False
    )


app = new_app("loopml: the machine-learning lifecycle in one install, with the loop closed.")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"loopml {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """loopml: the machine-learning lifecycle in one install, with the loop closed."""
