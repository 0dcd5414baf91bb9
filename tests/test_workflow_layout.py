"""Each stage is found by name in one hop: rule X → workflow/scripts/X.py → a dhbv function X."""
from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RULE = re.compile(r"^rule (\w+):\n(.*?)(?=^rule |\Z)", re.M | re.S)
SCRIPT = re.compile(r'script:\s*\n\s*"\.\./scripts/(\w+)\.py"')


def _rules_with_scripts() -> dict[str, str]:
    out = {}
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for name, body in RULE.findall(smk.read_text()):
            m = SCRIPT.search(body)
            if m:
                out[name] = m.group(1)
    return out


def test_rule_script_and_package_function_share_the_name():
    rules = _rules_with_scripts()
    assert len(rules) >= 12
    for rule, script in rules.items():
        assert script == rule, f"rule {rule} runs scripts/{script}.py"
        tree = ast.parse((REPO / "workflow" / "scripts" / f"{script}.py").read_text())
        sources = {a.name: node.module for node in ast.walk(tree)
                   if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dhbv")
                   for a in node.names}
        assert rule in sources, f"scripts/{script}.py does not import a dhbv function {rule}"
        called = {n.func.id for n in ast.walk(tree)
                  if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert rule in called, f"scripts/{script}.py does not call {rule}"
        assert callable(getattr(importlib.import_module(sources[rule]), rule))


def test_every_script_belongs_to_a_rule():
    scripts = {p.stem for p in (REPO / "workflow" / "scripts").glob("*.py")}
    assert scripts == set(_rules_with_scripts().values())
