"""dhbv.numba_cache: cached kernels are dropped exactly when a source of their package changes."""

from pathlib import Path

import dhbv.physics
import dhbv.routing
from dhbv.numba_cache import cache_dir, drop_stale, source_digest


def _package(tmp_path: Path) -> Path:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "kernels.py").write_text("from .steps import step\n")
    (pkg / "steps.py").write_text("def step(x):\n    return x + 1\n")
    return pkg


def _cached(cache: Path) -> set[str]:
    return {f.name for f in cache.iterdir() if f.suffix in (".nbi", ".nbc")}


def test_drop_stale_removes_the_package_kernels_only_when_a_source_changed(tmp_path):
    pkg = _package(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    ours = {"kernels.run-3.py311.nbi", "kernels.run-3.py311.1.nbc", "steps.step-1.py311.nbi"}
    theirs = {"elsewhere.f-9.py311.nbi"}  # a module that is not in the package
    for name in ours | theirs:
        (cache / name).write_bytes(b"x")

    assert drop_stale(pkg, cache) is True  # no stamp yet: the cache's origin is unknown
    assert _cached(cache) == theirs
    stamp = cache / "dhbv-pkg.sources.sha256"
    assert stamp.read_text().strip() == source_digest(pkg)

    for name in ours:  # numba writes the kernels compiled from the current sources
        (cache / name).write_bytes(b"x")
    assert drop_stale(pkg, cache) is False
    assert _cached(cache) == ours | theirs

    # an edit of an inlined module (not of the file numba keys the kernel on) invalidates
    (pkg / "steps.py").write_text("def step(x):\n    return x + 2\n")
    assert drop_stale(pkg, cache) is True
    assert _cached(cache) == theirs


def test_source_digest_sees_contents_and_names(tmp_path):
    pkg = _package(tmp_path)
    d0 = source_digest(pkg)
    (pkg / "steps.py").write_text("def step(x):\n    return x + 1\n")  # same bytes
    assert source_digest(pkg) == d0
    (pkg / "steps.py").rename(pkg / "steps2.py")
    assert source_digest(pkg) != d0


def test_cache_dir_is_where_numba_caches_the_package_kernels():
    from dhbv.physics import kernels_cpu as hbv_kernels
    from dhbv.routing import kernels_cpu as mc_kernels

    for package, kernel in ((dhbv.physics, hbv_kernels.forward_kernel),
                            (dhbv.routing, mc_kernels.forward_kernel)):
        here = Path(package.__file__).parent
        assert cache_dir(here) == Path(kernel._cache._cache_path)
        assert (cache_dir(here) / f"dhbv-{here.name}.sources.sha256").read_text().strip() \
            == source_digest(here)
