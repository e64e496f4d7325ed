"""``loopml data add NAME PATH [--json] [--quiet]`` for content that a version already holds, answered before
typer, rich, SQLAlchemy or pyarrow load.

Re-adding unchanged data is mostly start-up: the answer is one lookup in the digest cache (a ``stat`` per
file) and one row of the metadata database. This module finds both read-only, from the same settings as any
command, and prints exactly what the command prints. It answers only when it is certain; otherwise — any
other option (tags, a description), a database other than a SQLite file at this loopml's schema revision,
content that the digest cache does not recognise, no such version, any error — it returns False and the
command runs as usual, which gives the same answer, or the error, the long way.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loopml.store import DatasetVersion

_FLAGS = {"--json": "json", "--quiet": "quiet", "-q": "quiet"}


def answer(argv: list[str]) -> bool:
    """Answer the command line ``argv`` (without the program name) if it is an unchanged ``data add``;
    True when it was answered, False to leave it to the command."""
    parsed = _parse(argv)
    if parsed is None:
        return False
    name, path, as_json = parsed
    # a stat result and a tuple per file, and the modules loaded, are all still in use when the answer is
    # printed: collecting garbage meanwhile only costs time
    collecting = gc.isenabled()
    gc.disable()
    try:
        version = unchanged_version(name, path)
    except Exception:  # not certain: the command itself reports what is wrong
        return False
    finally:
        if collecting:
            gc.enable()
    if version is None:
        return False
    if as_json:
        from loopml.cli._json import print_json, version_dict

        print_json(version_dict(version))
    else:
        from loopml.cli._json import added_summary
        from loopml.cli._output import console

        console.print(added_summary(version))
    return True


def _parse(argv: list[str]) -> tuple[str, Path, bool] | None:
    """(name, path, --json) for ``data add NAME PATH`` with at most --json and --quiet; None otherwise."""
    if argv[:2] != ["data", "add"] or "_LOOPML_COMPLETE" in os.environ:  # shell completion asks click
        return None
    positional: list[str] = []
    flags: set[str] = set()
    for arg in argv[2:]:
        if arg in _FLAGS:
            flags.add(_FLAGS[arg])
        elif arg.startswith("-"):  # --tag, --description, --help, --, a name that looks like an option
            return None
        else:
            positional.append(arg)
    if len(positional) != 2:
        return None
    return positional[0], Path(positional[1]), "json" in flags


def unchanged_version(name: str, path: Path) -> DatasetVersion | None:
    """The version of ``name`` that already holds the file or folder ``path``, when that is certain from
    the digest cache and the metadata database, both read-only; None otherwise."""
    from loopml.artifacts import peek_known_blob
    from loopml.config import load_settings
    from loopml.store import find_dataset_version

    settings = load_settings()
    if "://" in settings.artifact_root:
        return None
    blob = peek_known_blob(settings.artifact_root, path)
    if blob is None:
        return None
    return find_dataset_version(
        settings.database_url, name, blob.digest, timeout=settings.sqlite_busy_timeout
    )
