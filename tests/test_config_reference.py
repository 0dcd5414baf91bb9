"""docs/configuration.md is generated from the configuration schema (dhbv.config_reference)."""

from __future__ import annotations

from pathlib import Path

from dhbv.config_reference import load_schema, main, render

REPO = Path(__file__).resolve().parents[1]

TINY_SCHEMA = {
    "description": "Tiny   test\n schema (x < y).",
    "required": ["sets"],
    "properties": {
        "run": {
            "type": "object",
            "description": "Run options.",
            "properties": {
                "seed": {"type": "integer", "minimum": 0, "default": 1,
                         "description": "Random seed."},
                "device": {"type": "string", "enum": ["cpu", "cuda"], "default": "cpu"},
                "period": {"type": ["array", "null"], "items": {"type": "string"},
                           "minItems": 2, "maxItems": 2, "default": None,
                           "description": "[start, end] | null"},
                "opts": {"type": "object", "default": {},
                         "properties": {"k": {"type": "number", "default": 0.5}}},
            },
        },
        "sets": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "required": ["grid"],
                "properties": {
                    "grid": {"type": "string", "x-file": True, "description": "Grid <name>.nc."},
                    "spinup": {"anyOf": [{"type": "null"},
                                         {"type": "integer", "minimum": 0},
                                         {"type": "string", "enum": ["full"]}],
                               "default": "full"},
                },
            },
        },
    },
}

TINY_EXPECTED = """\
# Configuration reference

<!-- Generated from dhbv/schemas/config.schema.yaml by `python -m dhbv.config_reference`; \
do not edit by hand. -->

Tiny test schema (x &lt; y).

## `run`

Run options.

| key | type | default | description |
|---|---|---|---|
| `run.seed` | integer, ≥ 0 | `1` | Random seed. |
| `run.device` | one of `cpu`, `cuda` | `cpu` |  |
| `run.period` | list of string (2 items) or null | `null` | [start, end] \\| null |
| `run.opts` | object | `{}` |  |
| `run.opts.k` | number | `0.5` |  |

## `sets`

Required.

| key | type | default | description |
|---|---|---|---|
| `sets.<name>.grid` | string, path (must exist) | required | Grid &lt;name&gt;.nc. |
| `sets.<name>.spinup` | null or integer ≥ 0 or `full` | `full` |  |
"""


def test_render_tiny_schema():
    assert render(TINY_SCHEMA) == TINY_EXPECTED


def test_committed_reference_is_current():
    page = REPO / "docs" / "configuration.md"
    text = page.read_text(encoding="utf-8") if page.exists() else ""
    assert text == render(load_schema()), \
        "docs/configuration.md is out of date: run python -m dhbv.config_reference"


def test_check_flag(tmp_path, capsys):
    out = tmp_path / "configuration.md"
    assert main(["--check", "--out", str(out)]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(["--out", str(out)]) == 0
    assert main(["--check", "--out", str(out)]) == 0


def test_keys_of_each_source_type_are_listed():
    """Objects in a list whose keys depend on their ``type`` (allOf of if/then branches) get
    one row per key and type, required or not as the branch says, marked "type X:"."""
    schema = {"properties": {"sets": {"type": "array", "items": {
        "type": "object", "required": ["type"],
        "properties": {"type": {"type": "string", "enum": ["a", "b"]}},
        "allOf": [
            {"if": {"properties": {"type": {"const": "a"}}},
             "then": {"required": ["path"], "properties": {
                 "type": {}, "path": {"type": "string", "description": "A file."},
                 "n": {"type": "integer", "minimum": 1}}}},
            {"if": {"properties": {"type": {"const": "b"}}},
             "then": {"properties": {"type": {}, "url": {"type": "string"}}}},
        ]}}}}
    rows = [line for line in render(schema).splitlines() if line.startswith("| `")]
    assert rows == [
        "| `sets[].type` | one of `a`, `b` | required |  |",
        "| `sets[].path` | string | required | type a: A file. |",
        "| `sets[].n` | integer, ≥ 1 | – | type a: |",
        "| `sets[].url` | string | – | type b: |",
    ]
