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
    _load_app()(prog_name="loopml")


def _load_app() -> Any:
    from loopml.cli import _data, _demo, _maintenance, _pipeline, _runs  # noqa: F401  (each registers its commands)
    from loopml.cli._app import app

    return app


def __getattr__(name: str) -> Any:
    if name == "app":
        app = globals()["app"] = _load_app()
        return app
    raise AttributeError(f"module 'loopml.cli' has no attribute {name!r}")


__all__ = ["app", "main"]
