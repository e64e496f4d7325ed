"""What code a run comes from: the git commit, whether the tree was dirty, and the entry point."""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SourceInfo:
    git_commit: str | None
    git_dirty: bool | None
    entry_point: str | None
    user: str


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def _entry_point() -> tuple[str | None, Path]:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:
        return f"-m {spec.name.removesuffix('.__main__')}", Path.cwd()
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 in ("", "-c"):
        return ("-c" if argv0 == "-c" else "<interactive>"), Path.cwd()
    path = Path(argv0).resolve()
    return str(path), path.parent


@functools.lru_cache(maxsize=1)
def source_info() -> SourceInfo:
    """Read once per process: spawning git for every run would dominate the cost of starting one."""
    entry, where = _entry_point()
    commit = _git(["rev-parse", "HEAD"], where)
    dirty = None
    if commit is not None:
        status = _git(["status", "--porcelain", "--untracked-files=no"], where)
        dirty = None if status is None else bool(status.strip())
        top = _git(["rev-parse", "--show-toplevel"], where)
        if top and entry and os.path.isabs(entry):
            with contextlib.suppress(ValueError):  # the script lives outside the repository
                entry = str(Path(entry).relative_to(Path(top.strip()).resolve()))
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = ""
    return SourceInfo(commit.strip() if commit else None, dirty, entry, user)
