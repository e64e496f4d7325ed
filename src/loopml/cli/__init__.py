"""The ``loopml`` command line.

``loopml data add`` of content that is already stored is answered before the command line framework loads
(``_quick``); every other command goes to the typer app, which loads on first use.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loopml.cli._app import app


def main() -> None:
    from loopml.cli._quick import answer

    if answer(sys.argv[1:]):
        return
    _load_app(sys.argv[1] if len(sys.argv) > 1 else None)(prog_name="loopml")


# command (first word) -> the module that registers it; a command runs with only its own module loaded
_COMMANDS = {
    "data": "_data",
    "demo": "_demo",
    "deploy": "_deploy",
    "doctor": "_maintenance",
    "drift": "_drift",
    "experiments": "_runs",
    "gate": "_models",
    "gc": "_maintenance",
    "models": "_models",
    "monitor": "_monitor",
    "pipeline": "_pipeline",
    "predictions": "_predictions",
    "runs": "_runs",
    "serve": "_serve",
}


def _load_app(command: str | None = None) -> Any:
    """The typer app with the commands registered: all of them, or only ``command``'s (start-up time)."""
    import importlib

    from loopml.cli._app import app

    module = _COMMANDS.get(command or "")
    for name in [module] if module else sorted(set(_COMMANDS.values())):
        importlib.import_module(f"loopml.cli.{name}")
    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        app = globals()["app"] = _load_app()
        return app
    raise AttributeError(f"module 'loopml.cli' has no attribute {name!r}")


__all__ = ["app", "main"]
