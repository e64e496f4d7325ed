"""Walking a folder: one stat per file, the symlink rules of ``list_dir_files``, the folder fingerprint."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from loopml.artifacts._base import list_dir_files
from loopml.artifacts._scan import fingerprint, newest_mtime_ns, scan_dir
from loopml.errors import InvalidArgumentError, PathEscapeError

from .conftest import COMMON_CHANGES, change_tree, old_file

needs_symlinks = pytest.mark.skipif(sys.platform == "win32", reason="symlinks need privileges on Windows")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    for rel in ("b.bin", "a.bin", "sub/c.bin", "sub/deeper/d.bin", "z/e.bin"):
        old_file(root / rel, rel.encode() * 10)
    return root


def test_each_regular_file_with_its_stat(tree: Path) -> None:
    base, files = scan_dir(tree)
    assert base == str(tree.resolve())
    expected = ["a.bin", "b.bin", "sub/c.bin", "sub/deeper/d.bin", "z/e.bin"]
    assert sorted(rel for rel, _, _ in files) == expected
    for rel, real, st in files:
        assert real == str(tree.resolve() / rel)
        assert (st.st_size, st.st_mtime_ns, st.st_ino) == (
            os.stat(real).st_size,
            os.stat(real).st_mtime_ns,
            os.stat(real).st_ino,
        )
    assert [(rel, Path(real)) for rel, real, _ in files] == list_dir_files(tree)
    assert newest_mtime_ns(files) == max(os.stat(real).st_mtime_ns for _, real, _ in files)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifos_are_skipped(tree: Path) -> None:
    os.mkfifo(tree / "pipe")
    assert "pipe" not in [rel for rel, _, _ in scan_dir(tree)[1]]


def test_not_a_folder(tree: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="not a folder"):
        scan_dir(tree / "a.bin")


@needs_symlinks
def test_symlinks_inside_are_read_as_their_targets_and_outside_refused(tree: Path, tmp_path: Path) -> None:
    (tree / "alias.bin").symlink_to(Path("sub") / "c.bin")
    (tree / "sub-link").symlink_to("sub")
    files = {rel: real for rel, real, _ in scan_dir(tree)[1]}
    assert files["alias.bin"] == files["sub/c.bin"] == files["sub-link/c.bin"]
    assert files["sub-link/deeper/d.bin"] == str(tree.resolve() / "sub" / "deeper" / "d.bin")
    old_file(tmp_path / "secret", b"key")
    (tree / "z" / "leak").symlink_to(tmp_path / "secret")
    with pytest.raises(PathEscapeError, match="leak"):
        scan_dir(tree)
    (tree / "z" / "leak").unlink()
    (tree / "z" / "up").symlink_to(tree)
    with pytest.raises(InvalidArgumentError, match="loop"):
        scan_dir(tree)


def test_the_fingerprint_is_stable_while_nothing_changes(tree: Path) -> None:
    assert fingerprint(scan_dir(tree)[1]) == fingerprint(scan_dir(tree)[1])


CHANGES = [*COMMON_CHANGES, "replaced", "empty dir"]


@pytest.mark.parametrize("change", CHANGES)
def test_any_change_changes_the_fingerprint(tree: Path, change: str) -> None:
    before = fingerprint(scan_dir(tree)[1])
    target = tree / "sub" / "c.bin"
    if change in COMMON_CHANGES:
        change_tree(target, change)
    elif change == "replaced":  # the same bytes and times in a new inode
        st = target.stat()
        copy = tree / "copy.tmp"
        copy.write_bytes(target.read_bytes())
        os.utime(copy, ns=(st.st_atime_ns, st.st_mtime_ns))
        (tree / "keep").mkdir()
        target.rename(tree / "keep" / "old.bin")  # keep the old inode alive, so it is not reused
        copy.rename(target)
        (tree / "keep" / "old.bin").rename(tree.parent / "old.bin")
        (tree / "keep").rmdir()
    else:  # an empty folder holds no file: it changes nothing
        (tree / "empty").mkdir()
    after = fingerprint(scan_dir(tree)[1])
    assert (after == before) is (change == "empty dir")


def test_names_that_are_not_utf8(tmp_path: Path) -> None:
    if sys.platform in ("win32", "darwin"):
        pytest.skip("file names must be valid Unicode here")
    root = tmp_path / "odd"
    root.mkdir()
    old_file(Path(os.fsdecode(os.fsencode(root) + b"/\xff.bin")), b"x")
    files = scan_dir(root)[1]
    assert [rel for rel, _, _ in files] == [os.fsdecode(b"\xff.bin")]
    assert len(fingerprint(files)) == 64
