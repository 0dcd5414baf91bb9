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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(dest, *, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path next to ``dest``; on normal exit it replaces ``dest``.

    On an exception the temporary file is removed and ``dest`` is left untouched. The result
    gets the usual permissions of a new file (0666 minus the umask), not mkstemp's 0600.
    """
    dest = Path(dest)
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
