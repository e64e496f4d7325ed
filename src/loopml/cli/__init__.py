"""The ``loopml`` command line."""

from loopml.cli import _data, _demo, _maintenance, _runs  # noqa: F401  (each registers its commands)
from loopml.cli._app import app


def main() -> None:
    app(prog_name="loopml")


__all__ = ["app", "main"]
