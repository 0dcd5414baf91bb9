"""Markdown reference of the workflow configuration, generated from its JSON schema.

``python -m dhbv.config_reference`` writes ``docs/configuration.md`` from
``dhbv/schemas/config.schema.yaml``; ``--check`` only compares and exits with status 1 (naming
the file) when the committed page differs from what the schema gives.

Layout of the page: one section per top-level key, each with a table of every key below it
(key path, type, default, description). Nested objects appear as ``section.sub.key``; maps
whose keys the user chooses (``additionalProperties``) as ``section.<name>.key``; objects
inside lists as ``section.list[].key``, and the keys of each ``type`` of such an object (its
``allOf`` of if/then branches) as rows whose description starts "type X:". Keys marked
``x-file`` (paths that must exist) and ``x-knob`` (settings that change speed or memory use,
not results) say so in the type column.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from dhbv.config import SCHEMA_PATH

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "docs" / "configuration.md"
STALE = "docs/configuration.md is out of date: run python -m dhbv.config_reference"

HEADER = (
    "# Configuration reference\n"
    "\n"
    "<!-- Generated from dhbv/schemas/config.schema.yaml by `python -m dhbv.config_reference`;"
    " do not edit by hand. -->\n"
)
TABLE_HEAD = "| key | type | default | description |\n|---|---|---|---|\n"


def _prose(value) -> str:
    """One line of Markdown text: whitespace collapsed, ``<``/``>`` escaped (``<name>`` would
    otherwise be read as an HTML tag and vanish)."""
    return " ".join(str(value).split()).replace("<", "&lt;").replace(">", "&gt;")


def _text(value) -> str:
    """One-line table cell: as :func:`_prose`, with pipes escaped."""
    return _prose(value).replace("|", "\\|")


def _literal(value) -> str:
    """A default value as inline code (YAML-like scalars, JSON for lists and mappings)."""
    if value is None:
        s = "null"
    elif isinstance(value, bool):
        s = "true" if value else "false"
    elif isinstance(value, (int, float, str)):
        s = str(value)
    else:
        s = json.dumps(value, ensure_ascii=False)
    return "`" + s.replace("|", "\\|") + "`"


def _types(node: dict) -> list[str]:
    if "anyOf" in node or "oneOf" in node:
        out = []
        for alt in node.get("anyOf", node.get("oneOf")):
            b = _bounds(alt)
            for t in _types(alt):
                t = f"{t} {b}" if b else t
                if t not in out:
                    out.append(t)
        return out
    if "enum" in node:
        values = [_literal(v) for v in node["enum"]]
        return values if len(values) == 1 else ["one of " + ", ".join(values)]
    t = node.get("type")
    if t is None:
        return ["map" if _is_map(node) else "object"] if "properties" in node or _is_map(node) else ["any"]
    names = t if isinstance(t, list) else [t]
    out = []
    for name in names:
        if name == "array":
            out.append(_array_type(node))
        elif name == "object" and _is_map(node):
            out.append(_map_type(node))
        else:
            out.append(name)
    return out


def _array_type(node: dict) -> str:
    items = node.get("items") or {}
    s = "list of " + " or ".join(_types(items)) if items else "list"
    lo, hi = node.get("minItems"), node.get("maxItems")
    if lo is not None and lo == hi:
        s += f" ({lo} items)"
    elif lo is not None and hi is not None:
        s += f" ({lo}–{hi} items)"
    elif lo:
        s += f" (≥ {lo} items)"
    elif hi is not None:
        s += f" (≤ {hi} items)"
    return s


def _is_map(node: dict) -> bool:
    return isinstance(node.get("additionalProperties"), dict) and "properties" not in node


def _map_type(node: dict) -> str:
    value = node["additionalProperties"]
    keys = (node.get("propertyNames") or {}).get("enum")
    head = "map" if not keys else "map with keys " + ", ".join(f"`{k}`" for k in keys)
    if value.get("properties"):
        return head + " of objects"
    return head + " of " + " or ".join(_types(value))


def _bounds(node: dict) -> str:
    parts = []
    for key, sym in (("minimum", "≥"), ("exclusiveMinimum", ">"), ("maximum", "≤"),
                     ("exclusiveMaximum", "<")):
        if key in node and not isinstance(node[key], bool):
            parts.append(f"{sym} {node[key]}")
    return ", ".join(parts)


def _type_cell(node: dict) -> str:
    s = " or ".join(_types(node))
    b = _bounds(node)
    if b:
        s += f", {b}"
    if node.get("x-file"):
        s += ", path (must exist)"
    if node.get("x-knob"):
        s += ", speed/memory only"
    return _text(s)


def _default_cell(node: dict, required: bool) -> str:
    if "default" in node:
        return _literal(node["default"])
    return "required" if required else "–"


def _rows(node: dict, path: str, required: bool, out: list[str]) -> None:
    """Append the row of ``node`` (at key ``path``) and the rows of everything below it."""
    out.append(f"| `{path}` | {_type_cell(node)} | {_default_cell(node, required)} | "
               f"{_text(node.get('description', ''))} |")
    _children(node, path, out)


def _children(node: dict, path: str, out: list[str]) -> None:
    props = node.get("properties") or {}
    req = set(node.get("required") or ())
    for name, sub in props.items():
        _rows(sub, f"{path}.{name}", name in req, out)
    if _is_map(node) and node["additionalProperties"].get("properties"):
        _children(node["additionalProperties"], f"{path}.<name>", out)
    items = node.get("items")
    if isinstance(items, dict) and items.get("properties"):
        _children(items, f"{path}[]", out)
        _variant_rows(items, f"{path}[]", out)


def _variant_rows(node: dict, path: str, out: list[str]) -> None:
    """Rows of the keys an object takes for each value of its ``type`` key (``allOf`` of
    ``if: {properties: {type: {const: X}}}`` / ``then: {properties: ...}``), each described
    as "type X: ..."."""
    for branch in node.get("allOf") or ():
        const = (((branch.get("if") or {}).get("properties") or {}).get("type") or {}).get("const")
        then = branch.get("then") or {}
        if const is None:
            continue
        req = set(then.get("required") or ())
        for name, sub in (then.get("properties") or {}).items():
            if name == "type":
                continue
            text = f"type {const}: {sub.get('description', '')}".strip()
            out.append(f"| `{path}.{name}` | {_type_cell(sub)} | "
                       f"{_default_cell(sub, name in req)} | {_text(text)} |")


def render(schema: dict) -> str:
    """Markdown configuration reference of ``schema`` (a JSON schema as a dict)."""
    parts = [HEADER]
    if schema.get("description"):
        parts.append("\n" + _prose(schema["description"]) + "\n")
    top_required = set(schema.get("required") or ())
    for name, node in (schema.get("properties") or {}).items():
        text = _prose(node.get("description", ""))
        if name in top_required:
            text = (text + " " if text else "") + "Required."
        parts.append(f"\n## `{name}`\n\n")
        if text:
            parts.append(text + "\n\n")
        rows: list[str] = []
        if node.get("properties") or _is_map(node) or isinstance(node.get("items"), dict):
            _children(node, name, rows)
            if _is_map(node) and not node["additionalProperties"].get("properties"):
                rows.insert(0, f"| `{name}.<name>` | "
                               f"{_text(' or '.join(_types(node['additionalProperties'])))} | – | |")
        if not rows:
            _rows(node, name, name in top_required, rows)
        parts.append(TABLE_HEAD + "\n".join(rows) + "\n")
    return "".join(parts)


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    """The configuration schema as a dict."""
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def main(argv=None) -> int:
    """Write (or with ``--check`` verify) ``docs/configuration.md``."""
    p = argparse.ArgumentParser(prog="python -m dhbv.config_reference",
                                description="Generate docs/configuration.md from the schema.")
    p.add_argument("--check", action="store_true",
                   help="exit 1 if the page differs from the schema instead of writing it")
    p.add_argument("--out", default=str(OUTPUT), help="output path (default: docs/configuration.md)")
    args = p.parse_args(argv)
    text = render(load_schema())
    out = Path(args.out)
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else None
        if current != text:
            print(STALE if out == OUTPUT else f"{out} is out of date: run python -m "
                  "dhbv.config_reference", file=sys.stderr)
            return 1
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
