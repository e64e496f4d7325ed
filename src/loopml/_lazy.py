"""Public names that load on first use: a package lists name -> module, and its ``__getattr__`` imports it."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that resolves each name of ``exports`` (a module named after
    the attribute is the value itself) and keeps it in the package, so the lookup happens once."""
    namespace = vars(importlib.import_module(package))

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        loaded = importlib.import_module(module)
        value = loaded if module.endswith("." + name) else getattr(loaded, name)
        namespace[name] = value
        return value

    return __getattr__
