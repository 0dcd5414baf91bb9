"""Keep numba's on-disk kernel cache in step with the sources it was compiled from.

Numba keys each cached function on the one file that defines it. A kernel that inlines
functions of other modules (the HBV step of ``physics/equations.py`` in
``physics/kernels_cpu.py``, the travel time of ``routing/celerity.py`` in
``routing/kernels_cpu.py``) would keep its cached machine code after those modules change,
after an edit or an upgrade of dhbv alike. :func:`drop_stale` stores a digest of all sources
of a subpackage next to its cache and removes the subpackage's cached kernels when the digest
differs, so that they are compiled anew from the current code (once, on first use).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from numba import njit


def source_digest(package_dir) -> str:
    """SHA-256 of the names and contents of the ``*.py`` files of ``package_dir``."""
    h = hashlib.sha256()
    for f in sorted(Path(package_dir).glob("*.py")):
        h.update(f.name.encode())
        h.update(b"\0")
        h.update(f.read_bytes())
    return h.hexdigest()


def cache_dir(package_dir) -> Path | None:
    """Where numba caches the functions of ``package_dir`` (its own ``__pycache__``, or the
    user-wide or ``NUMBA_CACHE_DIR`` location numba picks), None if caching is impossible."""
    probe_file = str(Path(package_dir) / "__init__.py")

    def _probe():  # a function "defined" in the package: numba derives the location from it
        return 0

    _probe.__code__ = _probe.__code__.replace(co_filename=probe_file)
    try:
        path = njit(cache=True)(_probe)._cache._cache_path
    except Exception:  # noqa: BLE001 (no writable location, or numba's internals moved)
        return None
    return Path(path)


def drop_stale(package_dir, cache_path=None) -> bool:
    """Remove the cached kernels of the modules of ``package_dir`` if the package's sources
    changed since they were cached (stamp file ``dhbv-<package>.sources.sha256`` in the
    cache directory; ``cache_path`` overrides :func:`cache_dir`). Returns True if it removed
    any. Never raises: a cache it cannot manage is left to numba."""
    package_dir = Path(package_dir)
    path = Path(cache_path) if cache_path is not None else cache_dir(package_dir)
    if path is None:
        return False
    stamp = path / f"dhbv-{package_dir.name}.sources.sha256"
    digest = source_digest(package_dir)
    try:
        if stamp.read_text().strip() == digest:
            return False
    except OSError:
        pass
    modules = {f.stem for f in package_dir.glob("*.py")}
    removed = False
    for f in path.glob("*.nb[ic]"):
        if f.name.split(".", 1)[0] in modules:
            try:
                f.unlink()
                removed = True
            except OSError:
                pass
    try:
        path.mkdir(parents=True, exist_ok=True)
        tmp = stamp.with_name(f"{stamp.name}.{os.getpid()}")
        tmp.write_text(digest + "\n")
        os.replace(tmp, stamp)
    except OSError:
        pass
    return removed
