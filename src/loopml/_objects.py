"""Finding a Python object a user names as ``MODULE:NAME`` or ``path/to/file.py:NAME`` (pipelines, checks)."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from loopml.errors import InvalidArgumentError, NotFoundError


def import_object(ref: str, *, what: str, example: str) -> Any:
    """The object ``ref`` names: ``package.module:name`` (the working folder is importable) or
    ``path/to/file.py:name`` (the file's folder becomes importable too); ``name`` may be dotted. ``what``
    and ``example`` word the errors ("Name a pipeline as ... (as in `training:pipeline`)")."""
    module_name, sep, attr = ref.rpartition(":")
    if not sep or not module_name or not attr:
        raise InvalidArgumentError(
            f"Name {what} as MODULE:NAME or FILE.py:NAME (as in `{example}`), not {ref!r}."
        )
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        if module_name.endswith(".py") or "/" in module_name:
            path = Path(module_name)
            if not path.is_file():
                raise NotFoundError(f"No file {module_name!r}.")
            spec = importlib.util.spec_from_file_location(path.stem, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[path.stem] = module  # so that what it defines pickles by module and name
            if str(path.parent.resolve()) not in sys.path:
                sys.path.insert(0, str(path.parent.resolve()))
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise NotFoundError(
            f"Cannot import {module_name!r} ({exc}); run from the folder that holds it, or name its file."
        ) from None
    obj: Any = module
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise NotFoundError(f"{module_name} has no {attr!r}.")
    return obj
