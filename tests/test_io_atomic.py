"""Atomic writes: complete files or none, with ordinary permissions."""

import os

import pytest

from dhbv.io.atomic import atomic_path


def test_success_replaces_destination_with_normal_permissions(tmp_path):
    dest = tmp_path / "sub" / "out.txt"
    old = os.umask(0o022)
    try:
        with atomic_path(dest) as tmp:
            tmp.write_text("new")
    finally:
        os.umask(old)
    assert dest.read_text() == "new"
    assert oct(dest.stat().st_mode & 0o777) == oct(0o644)
    assert [p.name for p in dest.parent.iterdir()] == ["out.txt"]


def test_failure_keeps_old_file_and_leaves_no_temporary(tmp_path):
    dest = tmp_path / "out.txt"
    dest.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer died")
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
