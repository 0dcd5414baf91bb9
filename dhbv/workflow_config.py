"""Validation of the workflow configuration (``config.yaml``) against its JSON schema.

Errors are one line naming the key and the expected form, for example::

    config.yaml: network.min_slope must be of type number (got 'steep'); see dhbv/schemas/config.schema.yaml

Schema defaults are filled in place, so every rule sees every key. Properties marked
``x-file: true`` in the schema are paths that must exist when the workflow starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

from dhbv.errors import DhbvInputError

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "config.schema.yaml"


def _with_defaults(validator_class):
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = _copy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _copy(value):
    return yaml.safe_load(yaml.safe_dump(value))


def _key(path) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    v = error.validator
    if v == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(error.instance) - set(allowed))
        where = f"{key}." if error.absolute_path else ""
        return f"unknown key '{where}{extra[0]}' (allowed here: {', '.join(allowed)})"
    if v == "type":
        return f"{key} must be of type {error.validator_value} (got {error.instance!r})"
    if v == "required":
        return f"{key}: {error.message}"
    if v == "enum":
        return f"{key} must be one of {error.validator_value} (got {error.instance!r})"
    if v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        return f"{key} must satisfy {v} {error.validator_value} (got {error.instance!r})"
    if v == "pattern":
        return f"{key} must match pattern {error.validator_value!r} (got {error.instance!r})"
    return f"{key}: {error.message}"


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _file_keys(schema: dict, instance: Any, path: tuple = ()):
    """Yield (key path, value) of every ``x-file`` property present in ``instance``."""
    if not isinstance(instance, dict):
        return
    props = schema.get("properties", {})
    for name, value in instance.items():
        sub = props.get(name)
        if sub is None and isinstance(schema.get("additionalProperties"), dict):
            sub = schema["additionalProperties"]
        if sub is None:
            continue
        if sub.get("x-file") and value:
            values = value if isinstance(value, list) else [value]
            for v in values:
                yield path + (name,), v
        yield from _file_keys(sub, value, path + (name,))


def validate_config(config: dict, schema_path: str | Path, *, source: str = "config",
                    base_dir: str | Path = ".", check_files: bool = True) -> dict:
    """Validate ``config`` in place (filling defaults) and return it.

    Raises ``DhbvInputError`` with a one-line message on the first problem found.
    """
    schema_path = Path(schema_path)
    schema = yaml.safe_load(schema_path.read_text())
    validator_cls = _with_defaults(jsonschema.Draft202012Validator)
    errors = sorted(validator_cls(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise DhbvInputError(f"{source}: {_describe(errors[0])}; see {_shown(schema_path)}")
    if check_files:
        for key, value in _file_keys(schema, config):
            if not (Path(base_dir) / str(value)).exists():
                raise DhbvInputError(
                    f"{source}: {_key(key)} points to '{value}', which does not exist; "
                    "fix the path or provide the file"
                )
    return config
