"""The one configuration: schema defaults, validation errors, knobs, and the shipped configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dhbv.config import (SCHEMA_PATH, defaults, knob_keys, knobs_of, load_config,
                         resolve_config, validate_config, without_knobs)
from dhbv.errors import DhbvInputError

REPO = Path(__file__).resolve().parents[1]
SCHEMA = SCHEMA_PATH
SHIPPED = ["config.yaml", "tests/config/tiny.yaml",
           *sorted(str(p.relative_to(REPO)) for p in (REPO / "config").glob("*.yaml"))]


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("cfg", SHIPPED)
def test_shipped_configs_validate(cfg, monkeypatch):
    monkeypatch.chdir(REPO)
    config = validate_config(load_config(REPO / cfg), source=cfg)
    assert config["network"]["min_slope"] == pytest.approx(1e-3)
    assert config["train"]["dataset"] in config["datasets"]


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
        and not sub.get("x-optional")      # absent means a documented choice
    ]
    assert missing == []


def test_defaults_are_filled(monkeypatch):
    monkeypatch.chdir(REPO)
    config = {"domains": {"bow": {"flowlines": "config.yaml"}}}
    validate_config(config)
    assert config["run"] == {"name": "dhbv", "seed": 0, "device": "auto", "threads": None,
                             "mkldnn": False, "numba_threads": 1}
    assert config["network"]["cycle_policy"] == "error"
    assert config["domains"]["bow"]["gauges"] == []
    assert config["model"]["dynamic_inputs"] == ["P", "T", "PET"]


def _error(config: dict, monkeypatch) -> str:
    monkeypatch.chdir(REPO)
    with pytest.raises(DhbvInputError) as info:
        validate_config(config, source="my.yaml")
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


def test_missing_required_key(monkeypatch):
    assert "'flowlines' is a required property" in _error({"domains": {"a": {}}}, monkeypatch)


def test_missing_file_is_named(monkeypatch):
    cfg = {"domains": {"a": {"flowlines": "resources/nowhere/riv_pfaf_71.shp"}}}
    msg = _error(cfg, monkeypatch)
    assert "domains.a.flowlines" in msg and "riv_pfaf_71.shp" in msg and "does not exist" in msg


def test_dates_may_be_unquoted(monkeypatch):
    """YAML reads 1995-10-01 as a date; the configuration holds ISO text either way."""
    cfg = yaml.safe_load("evaluation: {period: [1995-10-01, 2000-09-30]}\n")
    assert resolve_config(cfg)["evaluation"]["period"] == ["1995-10-01", "2000-09-30"]


@pytest.mark.parametrize("edit, culprit", [
    ({"train": {"period": ["1990-10-01", "2000-09-30"]}}, "overlaps evaluation.period"),
    ({"train": {"period": ["1990-10-01", "1980-09-30"]}}, "train.period: end 1980-09-30 is before"),
    ({"train": {"dataset": "nowhere"}}, "train.dataset 'nowhere' is not in datasets"),
    ({"simulate": {"datasets": ["nowhere"]}}, "simulate.datasets names 'nowhere'"),
    ({"simulate": {"spinup": "long"}}, "simulate.spinup"),
    ({"train": {"warmup_grad": -1}}, "train.warmup_grad must satisfy minimum 0"),
    ({"train": {"loss": "mae"}}, "train.loss must be one of ['rmse_comb', 'nse']"),
    ({"run": {"device": "gpu"}}, "run.device must match pattern"),
    ({"model": {"readout": "mc"}}, "model.readout must be one of"),
])
def test_semantic_errors_name_the_key(edit, culprit, monkeypatch):
    assert culprit in _error(edit, monkeypatch)


def test_defaults_come_from_the_schema_alone():
    """Every leaf of the schema with a default is in defaults() with that value, and
    defaults() has no key the schema does not declare (no second source of defaults)."""
    schema = load(SCHEMA)
    d = defaults()

    def walk(sch, node, path):
        for name, sub in sch.get("properties", {}).items():
            if sub.get("x-optional"):
                assert name not in node, f"{path}{name} is x-optional but got a default"
                continue
            assert name in node, f"{path}{name} missing from defaults()"
            if "properties" in sub:
                walk(sub, node[name], f"{path}{name}.")
            elif "default" in sub:
                assert node[name] == sub["default"], f"{path}{name}"
        if "properties" in sch and not isinstance(sch.get("additionalProperties"), dict):
            extra = set(node) - set(sch["properties"])
            assert not extra, f"{path}: keys {extra} not in the schema"

    walk(schema, d, "")


def test_code_reads_only_schema_keys():
    """Every literal config["section"]["key"] read in the package and the workflow is a key
    of the schema (code and schema cannot drift apart silently)."""
    import re

    schema = load(SCHEMA)["properties"]
    pat = re.compile(r"""(?:config|cfg|c)\[["'](\w+)["']\]\[["'](\w+)["']\]""")
    files = [*REPO.joinpath("dhbv").rglob("*.py"), *REPO.joinpath("workflow").rglob("*.smk"),
             *REPO.joinpath("workflow").rglob("*.py"), REPO / "Snakefile"]
    seen = 0
    for f in files:
        for sec, key in pat.findall(f.read_text()):
            if sec in schema and "properties" in schema[sec]:
                seen += 1
                assert key in schema[sec]["properties"], f"{f.name}: {sec}.{key} not in the schema"
    assert seen > 10


def test_knobs_are_left_out_of_rule_params():
    cfg = defaults()
    keys = knob_keys()
    assert keys["forcing"] == {"chunk_days": True} and "threads" in keys["run"]
    assert "progress" not in without_knobs(cfg, "train") and "epochs" in without_knobs(cfg, "train")
    assert knobs_of(cfg)["train"] == {"parallel_members": 1, "progress": True}
