"""Import structure of the dhbv package: no import cycles, and every module imports alone.

The graph is read from the source with ``ast``: every ``import``/``from ... import`` statement,
also those inside functions (a cycle hidden in a function is still a cycle of the design), but
not those under ``if TYPE_CHECKING:``. ``from dhbv.x import y`` is an edge to ``dhbv.x.y`` when
y is a submodule, else to ``dhbv.x``; an edge to a package is an edge to its ``__init__``.
Importing ``dhbv.x.y`` also runs ``dhbv/x/__init__.py``, so it is an edge to ``dhbv.x`` too,
except from modules inside ``dhbv.x`` (a package importing its own submodules is the usual
layout, not a cycle).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "dhbv"
IMPORT_TIMEOUT_S = 120


def package_modules(root: Path = ROOT, package: str = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> source file of every module of ``package`` (``__init__`` as the
    package's own name)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if all(p.isidentifier() for p in parts):
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _import_nodes(node: ast.AST):
    """Import statements in and below ``node``, skipping ``if TYPE_CHECKING:`` bodies."""
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        children = node.orelse
    else:
        children = ast.iter_child_nodes(node)
    for child in children:
        yield from _import_nodes(child)


def _base_package(module: str, is_package: bool, level: int) -> str:
    """Package that a relative import of ``level`` dots in ``module`` starts from."""
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    return ".".join(parts[:len(parts) - (level - 1)])


def imported_modules(module: str, path: Path, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``module`` (source ``path``) imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    targets = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        source = node.module or ""
        if node.level:
            base = _base_package(module, is_package, node.level)
            source = f"{base}.{source}" if source else base
        for alias in node.names:
            sub = f"{source}.{alias.name}"
            targets.add(sub if sub in known else source)
    edges = set()
    for target in targets & known:
        parts = target.split(".")
        parents = {".".join(parts[:i]) for i in range(1, len(parts))}
        edges.add(target)
        edges.update(p for p in parents if p in known and not _inside(module, p))
    edges.discard(module)
    return edges


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def import_graph(root: Path = ROOT, package: str = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    modules = package_modules(root, package)
    known = set(modules)
    return {name: imported_modules(name, path, known) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [m0, m1, ..., m0], or None (iterative depth-first search)."""
    state = dict.fromkeys(graph, 0)  # 0 unvisited, 1 on the current path, 2 done
    for start in sorted(graph):
        if state[start]:
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state[nxt] == 1:
                return path[path.index(nxt):] + [nxt]
            elif state[nxt] == 0:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def all_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Cycles found one at a time, each one's closing edge dropped before the next search,
    until the graph is acyclic: every group of mutually importing modules shows up."""
    graph = {k: set(v) for k, v in graph.items()}
    cycles = []
    while (cycle := find_cycle(graph)) is not None:
        cycles.append(cycle)
        graph[cycle[-2]].discard(cycle[-1])
    return cycles


def test_cycle_finder_on_a_small_graph():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert len(all_cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}})) == 2


def test_relative_imports_and_type_checking_are_resolved(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .sub import leaf\n")
    (pkg / "sub" / "__init__.py").write_text("from . import leaf\n")
    (pkg / "sub" / "leaf.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg import top\n"
        "def f():\n    from ..top import g\n    import pkg.sub\n")
    (pkg / "top.py").write_text("import pkg.sub.leaf\n")
    graph = import_graph(tmp_path, "pkg")
    # top -> pkg.sub: importing pkg.sub.leaf runs pkg/sub/__init__.py first
    assert graph == {"pkg": {"pkg.sub", "pkg.sub.leaf"}, "pkg.sub": {"pkg.sub.leaf"},
                     "pkg.sub.leaf": {"pkg.top", "pkg.sub"},
                     "pkg.top": {"pkg.sub", "pkg.sub.leaf"}}


def test_no_import_cycles():
    cycles = all_cycles(import_graph())
    assert not cycles, "import cycles in dhbv:\n" + "\n".join(" -> ".join(c) for c in cycles)


# Each module is imported in a forked child of one interpreter that has loaded only the
# third-party libraries (torch alone takes about a second to import, 90 fresh interpreters would
# spend minutes on it): the child starts with no dhbv module loaded, so an import that works only
# after some other dhbv module still fails.
_DRIVER = r"""
import importlib, json, os, sys
for lib in ("numpy", "pandas", "xarray", "torch", "numba", "scipy", "yaml", "jsonschema",
            "netCDF4", "zarr", "geopandas", "rasterio", "shapely", "pyproj", "matplotlib"):
    try:
        importlib.import_module(lib)
    except ImportError:
        pass
assert not [m for m in sys.modules if m == "dhbv" or m.startswith("dhbv.")]
failed = {}
for module in sys.argv[1:]:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            importlib.import_module(module)
            code = 0
        except BaseException as err:
            os.write(w, f"{type(err).__name__}: {err}".encode()[:2000])
            code = 1
        os._exit(code)
    os.close(w)
    msg = os.read(r, 4000).decode()
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        failed[module] = msg or f"exit status {status}"
print(json.dumps(failed))
"""


def test_every_module_imports_alone():
    """Each module imported with no other dhbv module loaded: nothing relies on an earlier
    import."""
    import json

    modules = sorted(package_modules())
    res = subprocess.run([sys.executable, "-c", _DRIVER, *modules], cwd=ROOT,
                         capture_output=True, text=True, timeout=IMPORT_TIMEOUT_S)
    assert res.returncode == 0, res.stderr[-3000:]
    failed = json.loads(res.stdout.strip().splitlines()[-1])
    assert not failed, "modules that fail to import alone:\n" + "\n".join(
        f"{m}: {e}" for m, e in failed.items())
