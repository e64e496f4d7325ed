"""Relative paths that come from outside (a manifest, a client) and must stay inside the folder they name.

A path is refused, with ``PathEscapeError``, when any way of reading it could leave its root: a ``..``
segment, an absolute path (``/x``, ``C:\\x``, ``\\\\server\\share``), a backslash (a separator on Windows), an
empty segment (``a//b``, a leading or trailing ``/``), a NUL or control character, or any of these hidden
behind percent-encoding (``%2e%2e%2f``, encoded twice or more) or behind Unicode look-alikes that NFKC
normalisation turns into them (fullwidth ``．．／``, the one-dot leader U+2024, the small reverse solidus).
A segment made only of dots and spaces is refused too: Windows strips trailing dots and spaces, so ``.. ``
would become ``..`` there. A lone ``.`` segment is harmless and dropped.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

from loopml.errors import PathEscapeError

_DRIVE = re.compile(r"^[A-Za-z]:")
_MAX_DECODES = 3  # deeper nesting than this is refused rather than unwrapped
# characters that look like a slash or a backslash but which NFKC leaves alone
_LOOKALIKE_SEPARATORS = frozenset("\u2044\u2215\u29f5\u29f8\u29f9\u2216")
_USE = "use a relative POSIX path such as 'data/train.csv'"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode's category Cc, exactly
# the common case, decided by one match: segments of ASCII letters, digits and punctuation that no reading
# can turn into a separator, a dot segment or a drive; anything else gets the full analysis
_SEGMENT = r"[\w\-+=,@~#!$&'()\[\]{};][\w\-+=,@~#!$&'()\[\]{};. ]*"
_PLAIN = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*", re.ASCII)


def safe_relative_path(path: str) -> str:
    """``path`` as a relative POSIX path that stays inside its root (``.`` segments dropped), or
    ``PathEscapeError`` saying why it is refused."""
    if not isinstance(path, str):
        raise PathEscapeError(f"{path!r} is not a path: {_USE}.")
    if _PLAIN.fullmatch(path):
        return path
    if not path:
        raise PathEscapeError(f"the path is empty: {_USE}.")
    for form, how in _readings(path):
        reason = _why_unsafe(form, decoded=form != path)
        if reason is not None:
            shown = repr(path) if form == path else f"{path!r} ({how} {form!r})"
            raise PathEscapeError(f"path {shown} is refused: {reason}; {_USE}.")
    kept = [part for part in path.split("/") if part != "."]
    if not kept:
        raise PathEscapeError(f"path {path!r} names the root itself, not a file in it: {_USE}.")
    return "/".join(kept)


def resolve_inside(root: Path, relative: str) -> Path:
    """Where ``relative`` lies under ``root``; ``PathEscapeError`` if it is unsafe (``safe_relative_path``)
    or if a symlink already under ``root`` leads it out."""
    safe = safe_relative_path(relative)
    base = Path(root).resolve()
    target = base.joinpath(*safe.split("/"))
    if not target.resolve().is_relative_to(base):
        raise PathEscapeError(
            f"path {relative!r} leads out of {root} through a symbolic link; "
            "remove the link or choose a folder without one."
        )
    return target


def _readings(path: str) -> list[tuple[str, str]]:
    """Every form a consumer might turn ``path`` into: as given, percent-decoded once or more, and the NFKC
    normalisation of each; each with how it was reached, for the message."""
    forms: list[tuple[str, str]] = [(path, "as given")]
    current = path
    for depth in range(1, _MAX_DECODES + 2):
        decoded = unquote(current, errors="replace") if "%" in current else current
        if decoded == current:
            break
        if depth > _MAX_DECODES:
            raise PathEscapeError(
                f"path {path!r} is refused: it is still percent-encoded after {_MAX_DECODES} decodings; "
                f"{_USE}."
            )
        forms.append((decoded, "percent-decoded to" if depth == 1 else f"percent-decoded {depth} times to"))
        current = decoded
    for form, how in list(forms):
        normal = unicodedata.normalize("NFKC", form)
        if normal != form:
            before = "" if form == path else how.removesuffix(" to") + " and "
            forms.append((normal, before + "NFKC-normalised to"))
    return forms


def _why_unsafe(form: str, *, decoded: bool) -> str | None:
    control = _CONTROL.search(form)
    if control is not None:
        return f"it contains the control character {control.group()!r}"
    for ch in _LOOKALIKE_SEPARATORS.intersection(form):
        return f"it contains {unicodedata.name(ch).lower()}, which looks like a separator"
    if "\\" in form:
        return "it contains a backslash (a separator on Windows)"
    if form.startswith("/"):
        return "it is absolute"
    if _DRIVE.match(form):
        return "it starts with a Windows drive"
    for part in form.split("/"):
        if part == "":
            return "it has an empty segment (a leading, trailing or doubled '/')"
        if part == "..":
            return "it has a '..' segment, which leads out of the folder"
        if part == "." and decoded:
            return "it has an encoded '.' segment"
        if part != "." and part.strip(". ") == "":
            return f"it has the segment {part!r}, which Windows reads as '..' or '.'"
    return None


__all__ = ["resolve_inside", "safe_relative_path"]
