"""The public surface: ``__all__`` is sorted, every name resolves, and ``import loopml`` stays light."""

from __future__ import annotations

import subprocess
import sys

import loopml


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert loopml.__all__ == sorted(loopml.__all__)
    for name in loopml.__all__:
        assert getattr(loopml, name) is not None, name


def test_layers_export_what_they_list() -> None:
    import loopml.artifacts
    import loopml.config
    import loopml.pipelines
    import loopml.store
    import loopml.tracking

    for module in (loopml.artifacts, loopml.config, loopml.pipelines, loopml.store, loopml.tracking):
        assert sorted(module.__all__) == module.__all__
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.{name}"


def test_importing_loopml_does_not_load_heavy_libraries() -> None:
    heavy = "('sqlalchemy', 'pandas', 'sklearn', 'typer')"
    code = f"import sys, loopml; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_all_lists_exactly_the_lazy_exports() -> None:
    assert set(loopml.__all__) == {*loopml._EXPORTS, "__version__"}


def test_the_command_line_starts_without_the_store_or_pyarrow() -> None:
    heavy = "('sqlalchemy', 'pyarrow', 'pandas', 'sklearn')"
    code = f"import sys, loopml.cli; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
