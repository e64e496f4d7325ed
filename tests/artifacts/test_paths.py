"""Relative paths from outside: every way of escaping the root is refused, and plain paths pass unchanged."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from loopml.artifacts import LocalArtifactStore, resolve_inside, safe_relative_path
from loopml.errors import InvalidArgumentError, PathEscapeError

needs_symlinks = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")


class TestPlainPaths:
    @pytest.mark.parametrize(
        "path",
        [
            "model.pkl",
            "data/train.csv",
            "a/b/c/d.txt",
            "names with spaces/and (brackets) [1].txt",
            "trailing.dot./x",
            ".hidden/.env",
            "50%off.txt",  # not an escape sequence: kept as written
            "a%20b.txt",  # decodes to a harmless name: kept as written
            "%ff.bin",
            "café/naïve.txt",
            "ﬁle.txt",  # a ligature: NFKC makes it "file.txt", harmless
            "12:00.log",  # a colon past the first character is no drive
        ],
    )
    def test_is_kept(self, path: str) -> None:
        assert safe_relative_path(path) == path

    @pytest.mark.parametrize(("path", "normal"), [("./a", "a"), ("a/./b", "a/b"), ("a/.", "a")])
    def test_dot_segments_are_dropped(self, path: str, normal: str) -> None:
        assert safe_relative_path(path) == normal


ESCAPES = {
    # name: (path, words the message must hold)
    "dotdot": ("../x", "'..' segment"),
    "dotdot inside": ("a/../../x", "'..' segment"),
    "dotdot at the end": ("a/..", "'..' segment"),
    "posix absolute": ("/etc/passwd", "absolute"),
    "windows drive": ("C:\\Windows\\x", "backslash"),
    "windows drive with slash": ("C:/Windows/x", "drive"),
    "windows drive relative": ("c:x", "drive"),
    "unc share": ("\\\\server\\share\\x", "backslash"),
    "backslash": ("a\\..\\..\\x", "backslash"),
    "lone backslash": ("a\\b", "backslash"),
    "percent dotdot slash": ("%2e%2e%2fetc", "percent-decoded to '../etc'"),
    "percent upper case": ("%2E%2E/x", "percent-decoded to '../x'"),
    "percent slash only": ("..%2fx", "'..' segment"),
    "percent backslash": ("a%5cb", "backslash"),
    "percent absolute": ("%2fetc/passwd", "absolute"),
    "double encoding": ("%252e%252e%252fx", "percent-decoded 2 times"),
    "triple encoding": ("%25252e%25252e/x", "percent-decoded 3 times"),
    "too deep an encoding": ("%2525252e%2525252e/x", "still percent-encoded"),
    "percent nul": ("a%00b", "control character"),
    "percent encoded dot segment": ("a/%2e/b", "encoded '.'"),
    "fullwidth dots and slash": ("\uff0e\uff0e\uff0fx", "NFKC"),
    "fullwidth dots": ("\uff0e\uff0e/x", "'..' segment"),
    "fullwidth solidus": ("a\uff0f..\uff0fx", "'..' segment"),
    "fullwidth reverse solidus": ("a\uff3cb", "backslash"),
    "small reverse solidus": ("a\ufe68b", "backslash"),
    "one dot leader": ("\u2024\u2024/x", "'..' segment"),
    "two dot leader": ("\u2025/x", "'..' segment"),
    "encoded fullwidth dots": ("%EF%BC%8E%EF%BC%8E/x", "NFKC"),
    "division slash": ("a\u2215..\u2215b", "division slash"),
    "fraction slash": ("a\u2044b", "fraction slash"),
    "nul": ("a\x00b", "control character"),
    "newline": ("a\nb", "control character"),
    "escape": ("a\x1b[2Jb", "control character"),
    "c1 control": ("a\x85b", "control character"),
    "empty": ("", "empty"),
    "double slash": ("a//b", "empty segment"),
    "trailing slash": ("a/", "empty segment"),
    "only a dot": (".", "root itself"),
    "three dots": ("...", "Windows"),
    "dots and a space": (".. ", "Windows"),
    "a space only": ("a/ /b", "Windows"),
}


class TestEscapes:
    @pytest.mark.parametrize(("path", "words"), list(ESCAPES.values()), ids=list(ESCAPES))
    def test_is_refused_saying_why_and_what_to_use(self, path: str, words: str) -> None:
        with pytest.raises(PathEscapeError) as info:
            safe_relative_path(path)
        message = str(info.value)
        assert words in message
        assert "use a relative POSIX path" in message
        assert isinstance(info.value, InvalidArgumentError)

    @pytest.mark.parametrize("value", [None, 3, b"a/b"])
    def test_a_non_text_path_is_refused(self, value: object) -> None:
        with pytest.raises(PathEscapeError, match="not a path"):
            safe_relative_path(value)  # type: ignore[arg-type]


class TestResolveInside:
    def test_a_plain_path_lands_under_the_root(self, tmp_path: Path) -> None:
        assert resolve_inside(tmp_path, "a/b.txt") == tmp_path.resolve() / "a" / "b.txt"

    @pytest.mark.parametrize("path", ["../x", "%2e%2e/x", "\uff0e\uff0e\uff0fx", "/abs"])
    def test_an_unsafe_path_is_refused(self, tmp_path: Path, path: str) -> None:
        with pytest.raises(PathEscapeError):
            resolve_inside(tmp_path, path)

    @needs_symlinks
    def test_a_symlink_leading_out_is_refused(self, tmp_path: Path) -> None:
        root, outside = tmp_path / "root", tmp_path / "outside"
        root.mkdir()
        outside.mkdir()
        (root / "link").symlink_to(outside)
        with pytest.raises(PathEscapeError, match="symbolic link"):
            resolve_inside(root, "link/x")

    @needs_symlinks
    def test_a_symlink_staying_inside_is_followed(self, tmp_path: Path) -> None:
        (tmp_path / "real").mkdir()
        (tmp_path / "alias").symlink_to(tmp_path / "real")
        assert resolve_inside(tmp_path, "alias/x") == tmp_path.resolve() / "alias" / "x"


class TestStoringFolders:
    @pytest.mark.parametrize("name", ["a\\b", "%2e%2e", "...", "\uff0e\uff0e"])
    def test_put_dir_refuses_a_name_it_could_not_restore_before_storing_anything(
        self, tmp_path: Path, name: str
    ) -> None:
        store = LocalArtifactStore(tmp_path / "store")
        tree = tmp_path / "tree"
        tree.mkdir()
        (tree / "0-fine.txt").write_bytes(b"fine")
        (tree / name).write_bytes(b"odd")
        with pytest.raises(PathEscapeError, match="rename it"):
            store.put_dir(tree)
        with pytest.raises(PathEscapeError, match="rename it"):
            store.stage_dir(tree)
        assert list(store.iter_objects()) == []
