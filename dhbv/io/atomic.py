"""Atomic file writing: outputs appear complete or not at all.

A failed or interrupted writer leaves no file that a later rule could trust: the data go to a
temporary file in the destination folder, which replaces the destination only on success.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from dhbv.errors import DhbvInputError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_output_path(dest, what: str = "output") -> Path:
    """``dest`` as a Path, or a one-line error when it cannot become a file: it is a folder,
    or a folder on its way is a file."""
    dest = Path(dest)
    if dest.is_dir():
        raise DhbvInputError(f"{what} {dest} is a folder; give a file path")
    for parent in dest.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DhbvInputError(f"{what} {dest}: {parent} is a file, not a folder; give "
                                     "another path")
            break
    return dest


@contextlib.contextmanager
def atomic_outputs(*dests) -> Iterator[list]:
    """Temporary paths for several outputs of one command (None entries stay None): all
    replace their destinations when the block ends normally, none on an exception."""
    with contextlib.ExitStack() as stack:
        yield [None if d is None else stack.enter_context(atomic_path(d)) for d in dests]


@contextlib.contextmanager
def atomic_path(dest, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on normal exit it replaces ``dest``.

    On an exception the temporary file is removed and ``dest`` is left untouched. The result
    gets the usual permissions of a new file (0666 minus the umask), not mkstemp's 0600.
    """
    dest = check_output_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix, dir=dest.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
