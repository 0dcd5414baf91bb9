"""The workflow configuration schema: defaults, unknown keys, wrong types, missing files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dhbv.errors import DhbvInputError
from dhbv.workflow_config import validate_config

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "dhbv" / "schemas" / "config.schema.yaml"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("cfg", ["config.yaml", "tests/config/tiny.yaml"])
def test_shipped_configs_validate(cfg, monkeypatch):
    monkeypatch.chdir(REPO)
    config = validate_config(load(REPO / cfg), SCHEMA, source=cfg)
    assert config["network"]["min_slope"] == pytest.approx(1e-3)


def _walk(schema: dict, path: str = ""):
    """Yield (path, property schema, parent schema) for every property in the schema."""
    for name, sub in schema.get("properties", {}).items():
        yield f"{path}.{name}".lstrip("."), sub, schema
        yield from _walk(sub, f"{path}.{name}")
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        yield from _walk(extra, f"{path}.*")


def test_every_schema_key_has_default_or_is_required():
    schema = load(SCHEMA)
    missing = [
        p for p, sub, parent in _walk(schema)
        if "default" not in sub and p.split(".")[-1] not in parent.get("required", [])
    ]
    assert missing == []


def test_defaults_are_filled(monkeypatch):
    monkeypatch.chdir(REPO)
    config = {"domains": {"bow": {"flowlines": "config.yaml"}}}
    validate_config(config, SCHEMA)
    assert config["run"] == {"name": "demo", "seed": 42, "device": "auto"}
    assert config["network"]["cycle_policy"] == "error"
    assert config["domains"]["bow"]["gauges"] == []


def _error(config: dict, monkeypatch) -> str:
    monkeypatch.chdir(REPO)
    with pytest.raises(DhbvInputError) as info:
        validate_config(config, SCHEMA, source="my.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_key_is_named(monkeypatch):
    msg = _error({"domains": {"a": {"flowlines": "config.yaml"}}, "netwrk": {}}, monkeypatch)
    assert "unknown key 'netwrk'" in msg and "my.yaml" in msg


def test_nested_unknown_key_is_named(monkeypatch):
    cfg = {"domains": {"a": {"flowlines": "config.yaml"}}, "network": {"min_slop": 0.1}}
    assert "unknown key 'network.min_slop'" in _error(cfg, monkeypatch)


def test_wrong_type_names_key_and_expected_form(monkeypatch):
    cfg = {"domains": {"a": {"flowlines": "config.yaml"}}, "network": {"min_slope": "steep"}}
    msg = _error(cfg, monkeypatch)
    assert "network.min_slope must be of type number" in msg


def test_bad_enum(monkeypatch):
    cfg = {"domains": {"a": {"flowlines": "config.yaml"}}, "network": {"cycle_policy": "ignore"}}
    assert "network.cycle_policy must be one of ['error', 'drop']" in _error(cfg, monkeypatch)


def test_missing_required_section(monkeypatch):
    assert "'domains' is a required property" in _error({}, monkeypatch)


def test_missing_file_is_named(monkeypatch):
    cfg = {"domains": {"a": {"flowlines": "resources/nowhere/riv_pfaf_71.shp"}}}
    msg = _error(cfg, monkeypatch)
    assert "domains.a.flowlines" in msg and "riv_pfaf_71.shp" in msg and "does not exist" in msg
