"""Broken inputs as users really make them: each stops with one line naming the culprit, and
nothing is written (docs/validation.md).

One case per broken input, across every stage: configuration, the dataset readers (Caravan
CSV, CAMELS tables, the standard NetCDF forms), training, simulation, evaluation, the network
builder, and the workflow. CLI cases run ``dhbv.cli.main`` in-process and check exit status 2,
one ``dhbv <cmd>: error:`` line naming the culprit, and that no file appeared or changed;
API cases check ``DhbvInputError`` the same way; workflow cases run ``snakemake -n``.
"""
from __future__ import annotations

import copy
import gzip
import json
import re
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr
import yaml

from conftest import REPO, copy_workflow, run_snakemake
from dhbv.cli import main
from dhbv.errors import DhbvInputError
from dhbv.io.standard import standard_source
from test_training_resume import BASINS, tiny_config

DEMO = REPO / "resources" / "demo"
CARAVAN = DEMO / "caravan_camels_us" / "timeseries"
ATTRS = DEMO / "camels_us" / "attributes"
JUNIATA = DEMO / "juniata_merit" / "juniata_reaches.csv"
SIM_PERIOD = ["--period", "1996-01-01", "1996-12-31"]
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING) ")


# ----------------------------------------------------------------------------- shared inputs
@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A trained tiny run and the standard forms of its three basins (read-only here)."""
    from dhbv.datasets import dataset_of, load_dataset, write_standard
    from dhbv.training import train

    root = tmp_path_factory.mktemp("shared")
    cfg = tiny_config(epochs=1, iterations_per_epoch=1, validation_period=None,
                      checkpoint_every_steps=None)
    cfg["datasets"]["three"]["sources"][0].update(timeseries_dir=str(CARAVAN),
                                                  attributes_dir=str(ATTRS))
    train(copy.deepcopy(cfg), root / "run")
    data = load_dataset(dataset_of(cfg), cfg["model"]["attributes"])
    forms = write_standard(data, root / "std")
    from dhbv.forcing.weights import build_coverage_weights

    build_coverage_weights(GRID, BASIN, "OfficialID", root / "weights.npz")
    from dhbv.network import build_topology

    build_topology(JUNIATA, out_path=root / "juniata.nc")
    return {"run": root / "run", "std": forms, "cfg": cfg, "weights": root / "weights.npz",
            "network": root / "juniata.nc"}


@dataclass
class Case:
    """A broken input: CLI ``argv`` (or an API ``call``), the texts its error line must hold,
    and the outputs that must not exist afterwards."""

    argv: list | None = None
    culprits: tuple = ()
    call: object = None
    outputs: list = field(default_factory=list)


CASES: dict = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def _yaml(path: Path, cfg) -> Path:
    path.write_text(yaml.safe_dump(cfg) if not isinstance(cfg, str) else cfg)
    return path


def _train_case(tmp, cfg, *culprits) -> Case:
    conf = _yaml(tmp / "bad.yaml", cfg)
    return Case(["train", "--config", conf, "--run-dir", tmp / "run"], culprits,
                outputs=[tmp / "run"])


def _cfg(**train):
    cfg = tiny_config(validation_period=None, checkpoint_every_steps=None, **train)
    cfg["datasets"]["three"]["sources"][0].update(timeseries_dir=str(CARAVAN),
                                                  attributes_dir=str(ATTRS))
    return cfg


def _caravan_copy(tmp) -> Path:
    ts = tmp / "ts"
    ts.mkdir()
    for b in BASINS:
        shutil.copy(CARAVAN / f"{b}.csv", ts / f"{b}.csv")
    return ts


def _prepare_case(tmp, source: dict, *culprits, attributes=None) -> Case:
    cfg = _cfg()
    cfg["datasets"]["three"]["sources"] = [source]
    if attributes is not None:
        cfg["model"]["attributes"] = attributes
    conf = _yaml(tmp / "data.yaml", cfg)
    return Case(["prepare", "--config", conf, "--out-dir", tmp / "out"], culprits,
                outputs=[tmp / "out"])


def _caravan_case(tmp, edit, *culprits, basin=BASINS[1]) -> Case:
    """Prepare the three Caravan basins after ``edit(path of one basin's CSV)``."""
    ts = _caravan_copy(tmp)
    edit(ts / f"{basin}.csv")
    src = dict(_cfg()["datasets"]["three"]["sources"][0], timeseries_dir=str(ts))
    return _prepare_case(tmp, src, *culprits)


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def _write_lines(path: Path, lines) -> None:
    path.write_text("\n".join(lines) + "\n")


def _std_copy(tmp, shared) -> dict:
    out = {}
    for k, p in shared["std"].items():
        out[k] = tmp / Path(p).name
        shutil.copy(p, out[k])
    return out


def _edit_nc(path: Path, edit) -> None:
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    ds = edit(ds)
    path.unlink()
    ds.to_netcdf(path)


def _std_case(tmp, shared, what: str, edit, *culprits, cmd="prepare") -> Case:
    """A standard-form dataset with one file edited (``edit(ds) -> ds``, or a callable on the
    path when ``what`` ends with '!'), read by ``dhbv prepare`` or ``dhbv simulate``."""
    forms = _std_copy(tmp, shared)
    key = what.rstrip("!")
    if what.endswith("!"):
        edit(forms[key])
    else:
        _edit_nc(forms[key], edit)
    source = standard_source(**forms)
    if cmd == "prepare":
        return _prepare_case(tmp, source, *culprits)
    conf = _yaml(tmp / "std.yaml", {"datasets": {"std": {"sources": [source]}}})
    return Case(["simulate", "--run-dir", shared["run"], "--config", conf, "--out",
                 tmp / "sim.nc", *SIM_PERIOD], culprits, outputs=[tmp / "sim.nc"])


def _simulate(shared, tmp, *extra, run=None) -> list:
    return ["simulate", "--run-dir", run or shared["run"], "--out", tmp / "sim.nc", *extra]


def _run_copy(tmp, shared) -> Path:
    run = tmp / "run"
    shutil.copytree(shared["run"], run, ignore=shutil.ignore_patterns("checkpoints"))
    return run


# ----------------------------------------------------------------------------- configuration
@case
def config_yaml_syntax(tmp, shared):
    return _train_case(tmp, "train:\n  epochs: [1, 2\nmodel: {}\n", "bad.yaml", "line")


@case
def config_yaml_tab_indent(tmp, shared):
    return _train_case(tmp, "train:\n\tepochs: 2\n", "bad.yaml", "not valid YAML")


@case
def config_not_a_mapping(tmp, shared):
    return _train_case(tmp, "- train\n- model\n", "bad.yaml", "mapping")


@case
def config_missing_file(tmp, shared):
    return Case(["train", "--config", tmp / "nope.yaml", "--run-dir", tmp / "run"],
                ("nope.yaml", "not found"), outputs=[tmp / "run"])


@case
def config_misspelt_section(tmp, shared):
    cfg = _cfg()
    cfg["trian"] = cfg.pop("train")
    return _train_case(tmp, cfg, "'trian'")


# one setting of a valid configuration set to a value users really write (dhbv train):
# name: (section, key, value, texts the error line must hold)
BAD_SETTINGS = {
    "config_unknown_key": ("train", "epoch", 3, ("train.epoch", "allowed")),
    "config_integer_as_word": ("train", "iterations_per_epoch", "ten",
                               ("train.iterations_per_epoch", "'ten'")),
    "config_integer_as_quoted_number": ("train", "epochs", "10", ("train.epochs", "integer")),
    "config_integer_as_fraction": ("train", "rho", 365.5, ("train.rho", "integer")),
    "config_negative_warmup": ("model", "warmup", -30, ("model.warmup", "minimum")),
    "config_dropout_as_percent": ("model", "dropout", 50, ("model.dropout", "maximum")),
    "config_reversed_period": ("train", "period", ["1982-09-30", "1981-10-01"],
                               ("train.period", "before start")),
    "config_impossible_date": ("train", "period", ["1981-02-30", "1982-09-30"],
                               ("train.period", "YYYY-MM-DD")),
    "config_period_one_date": ("train", "period", ["1981-10-01"], ("train.period",)),
    "config_train_overlaps_evaluation": ("train", "period", ["1981-10-01", "1996-09-30"],
                                         ("train.period", "overlaps")),
    "config_dataset_name_typo": ("train", "dataset", "tree", ("train.dataset", "'tree'")),
    "config_device_name": ("run", "device", "gpu", ("run.device", "'gpu'")),
    "config_forcing_gap_policy": ("data", "forcing_gaps", "fill",
                                  ("data.forcing_gaps", "'fill'")),
    "config_dangling_policy": ("network", "dangling_downstream", "ignore",
                               ("network.dangling_downstream", "'ignore'")),
    # valid settings that do not fit the data: found when training starts, before any output
    "train_period_outside_forcing": ("train", "period", ["1979-10-01", "1982-09-30"],
                                     ("1979-10-01", "outside the data record")),
    "train_no_window_fits": ("train", "rho", 800, ("no training window", "rho")),
    "train_gauge_not_in_data": ("train", "gauges", [BASINS[0], "1057000"], ("gauge 1057000",)),
    "train_validation_after_the_record": ("train", "validation_period",
                                          ["2030-01-01", "2030-12-31"], ("2030-01-01",)),
}


def _setting_case(section, key, value, culprits):
    def build(tmp, shared):
        cfg = _cfg()
        cfg.setdefault(section, {})[key] = value
        return _train_case(tmp, cfg, *culprits)
    return build


CASES.update({name: _setting_case(*spec) for name, spec in BAD_SETTINGS.items()})


@case
def config_no_sources(tmp, shared):
    cfg = _cfg()
    cfg["datasets"]["three"]["sources"] = []
    return _train_case(tmp, cfg, "datasets.three.sources")


@case
def config_source_type_typo(tmp, shared):
    cfg = _cfg()
    cfg["datasets"]["three"]["sources"][0]["type"] = "caravans"
    return _train_case(tmp, cfg, "'caravans'")


@case
def config_source_key_misspelt(tmp, shared):
    cfg = _cfg()
    cfg["datasets"]["three"]["sources"][0]["pet_methd"] = "hamon"
    return _train_case(tmp, cfg, "datasets.three.sources[0].pet_methd")


@case
def config_source_missing_required_key(tmp, shared):
    cfg = _cfg()
    del cfg["datasets"]["three"]["sources"][0]["attributes_dir"]
    return _train_case(tmp, cfg, "datasets.three.sources[0]", "'attributes_dir'")


@case
def config_source_pet_method_of_another_type(tmp, shared):
    cfg = _cfg()   # hargreaves needs Tmax/Tmin, which Caravan files do not have
    cfg["datasets"]["three"]["sources"][0]["pet_method"] = "hargreaves"
    return _train_case(tmp, cfg, "datasets.three.sources[0].pet_method", "'hargreaves'")


@case
def config_source_basin_id_lost_leading_zero(tmp, shared):
    cfg = _cfg()   # an unquoted 01013500 in YAML becomes the integer 1013500
    cfg["datasets"]["three"]["sources"][0]["basins"] = [int(b) for b in BASINS]
    return _train_case(tmp, cfg, "datasets.three.sources[0].basins[0]", str(int(BASINS[0])))


# ----------------------------------------------------------------------------- Caravan CSV
@case
def caravan_text_in_number_cell(tmp, shared):
    def edit(p):
        lines = _lines(p)
        lines[99] = "1.0,abc,2.0,3.0"
        _write_lines(p, lines)
    return _caravan_case(tmp, edit, f"{BASINS[1]}.csv", "row 100", "column T", "'abc'")


@case
def caravan_decimal_comma(tmp, shared):
    def edit(p):
        lines = _lines(p)
        lines[9] = '"1,5",-3.2,0.4,1.1'
        _write_lines(p, lines)
    return _caravan_case(tmp, edit, f"{BASINS[1]}.csv", "row 10", "'1,5'")


@case
def caravan_empty_file(tmp, shared):
    return _caravan_case(tmp, lambda p: p.write_text(""), f"{BASINS[1]}.csv", "empty")


@case
def caravan_partial_download(tmp, shared):
    def edit(p):
        text = p.read_text()
        p.write_text(text[: len(text) // 2 - 3])
    return _caravan_case(tmp, edit, f"{BASINS[1]}.csv", "truncated")


@case
def caravan_html_error_page(tmp, shared):
    page = "<html><head><title>503 Service Unavailable</title></head></html>\n"
    return _caravan_case(tmp, lambda p: p.write_text(page), f"{BASINS[1]}.csv")


@case
def caravan_utf16_export(tmp, shared):
    def edit(p):
        p.write_bytes(p.read_text().encode("utf-16"))
    return _caravan_case(tmp, edit, f"{BASINS[1]}.csv", "UTF-8")


@case
def caravan_corrupt_gzip(tmp, shared):
    def edit(p):
        data = gzip.compress(p.read_bytes())
        p.unlink()
        Path(f"{p}.gz").write_bytes(data[: len(data) // 3])
    return _caravan_case(tmp, edit, f"{BASINS[1]}.csv.gz", "download it again")


@case
def caravan_five_columns(tmp, shared):
    def edit(p):
        _write_lines(p, [ln + ",0" for ln in _lines(p)])
    return _caravan_case(tmp, edit, f"{BASINS[1]}.csv", "4 columns")


@case
def caravan_shorter_record(tmp, shared):
    return _caravan_case(tmp, lambda p: _write_lines(p, _lines(p)[:-365]), BASINS[1], "differ")


def _dated_case(tmp, change, *culprits, header="date,streamflow,total_precipitation_sum,"
                "temperature_2m_mean", date=lambda d: str(d.date())):
    """A basin's CSV in the dated layout, 20 days from 1981-01-01, then ``change(lines)``."""
    def edit(p):
        values = ",".join(["1.0"] * header.count(","))
        lines = [header] + [f"{date(d)},{values}" for d in pd.date_range("1981-01-01", periods=20)]
        change(lines)
        _write_lines(p, lines)
    return _caravan_case(tmp, edit, f"{BASINS[1]}.csv", *culprits)


def _swap(lines):
    lines[6], lines[7] = lines[7], lines[6]


@case
def caravan_dated_rows_out_of_order(tmp, shared):
    return _dated_case(tmp, _swap, "row 8", "sort")


@case
def caravan_dated_day_first_dates(tmp, shared):
    # read month first: 01/02/1981 is 2 February, ..., then 13/01/1981 goes back to January
    return _dated_case(tmp, lambda lines: None, "row 14", "YYYY-MM-DD",
                       date=lambda d: f"{d.day:02d}/{d.month:02d}/{d.year}")


@case
def caravan_dated_not_a_date(tmp, shared):
    def blank(lines):
        lines[5] = "n/a" + lines[5][10:]
    return _dated_case(tmp, blank, "row 6 has no date")


@case
def caravan_dated_missing_streamflow(tmp, shared):
    return _dated_case(tmp, lambda lines: None, "'Q'",
                       header="date,total_precipitation_sum,temperature_2m_mean")


@case
def caravan_ids_lost_leading_zero(tmp, shared):
    src = _cfg()["datasets"]["three"]["sources"][0]
    text = yaml.safe_dump({"datasets": {"three": {"sources": [dict(src, basins="BASINS")]}}})
    text = text.replace("BASINS", "[01022500, 01057000]")        # unquoted: YAML octal
    conf = _yaml(tmp / "data.yaml", text)
    return Case(["prepare", "--config", conf, "--out-dir", tmp / "out"],
                ("basins[0]", "271680", "quote ids"), outputs=[tmp / "out"])


@case
def caravan_wrong_timeseries_dir(tmp, shared):
    src = dict(_cfg()["datasets"]["three"]["sources"][0], timeseries_dir=str(tmp))
    return _prepare_case(tmp, src, f"{BASINS[0]}.csv", "timeseries_dir")


@case
def caravan_basin_not_in_attribute_tables(tmp, shared):
    ts = _caravan_copy(tmp)
    shutil.copy(ts / f"{BASINS[0]}.csv", ts / "99999999.csv")
    src = dict(_cfg()["datasets"]["three"]["sources"][0], timeseries_dir=str(ts),
               basins=[*BASINS, "99999999"])
    return _prepare_case(tmp, src, "99999999", "attribute tables")


@case
def caravan_basin_list_file_missing(tmp, shared):
    src = dict(_cfg()["datasets"]["three"]["sources"][0], basins=str(tmp / "basins.txt"))
    return _prepare_case(tmp, src, "basins.txt", "not found")


CAMELS_FORCING = ("47.24\n250\n2252.7\nYear Mnth Day Hr\tdayl(s)\tprcp(mm/day)\tsrad(W/m2)\t"
                  "swe(mm)\ttmax(C)\ttmin(C)\tvp(Pa)\n"
                  "1980 01 01 12\t30172.51\t0.00\t153.40\t0.00\t-8.22\t-16.26\t171.88\n"
                  "1980 01 02 12\t30253.15\t2.50\t145.27\t0.00\t-3.00\t-10.00\t240.13\n")
CAMELS_FLOW = "01013500 1980 01 01   655.00 A\n01013500 1980 01 02  -999.00 M\n"


def _camels_call(tmp, forcing=CAMELS_FORCING, flow=CAMELS_FLOW):
    from dhbv.io.camels import read_camels_forcing, read_camels_streamflow

    f, q = tmp / "01013500_lump_cida_forcing_leap.txt", tmp / "01013500_streamflow_qc.txt"
    f.write_text(forcing)
    q.write_text(flow)
    return lambda: (read_camels_forcing(f), read_camels_streamflow(q, 2252.7))


@case
def camels_forcing_text_in_number_cell(tmp, shared):
    forcing = CAMELS_FORCING.replace("\t2.50\t", "\t2,50\t")
    return Case(call=_camels_call(tmp, forcing=forcing),
                culprits=("forcing_leap.txt", "row 6", "'2,50'"))


@case
def camels_forcing_is_a_caravan_csv(tmp, shared):
    return Case(call=_camels_call(tmp, forcing=(CARAVAN / f"{BASINS[0]}.csv").read_text()),
                culprits=("forcing_leap.txt", "latitude and elevation"))


@case
def camels_streamflow_impossible_date(tmp, shared):
    return Case(call=_camels_call(tmp, flow=CAMELS_FLOW.replace("1980 01 02", "1980 02 30")),
                culprits=("streamflow_qc.txt", "row 2", "not a date"))


@case
def camels_streamflow_text_in_number_cell(tmp, shared):
    return Case(call=_camels_call(tmp, flow=CAMELS_FLOW.replace("655.00", "655,0")),
                culprits=("streamflow_qc.txt", "row 1", "'655,0'"))


@case
def prepare_out_dir_is_a_file(tmp, shared):
    c = _prepare_case(tmp, _cfg()["datasets"]["three"]["sources"][0], "out", "is a file")
    (tmp / "out").write_text("")
    c.outputs = []
    return c


@case
def camels_attribute_dir_wrong(tmp, shared):
    src = dict(_cfg()["datasets"]["three"]["sources"][0], attributes_dir=str(CARAVAN))
    return _prepare_case(tmp, src, "camels_topo.txt", "attributes_dir")


@case
def camels_attribute_name_unknown(tmp, shared):
    src = _cfg()["datasets"]["three"]["sources"][0]
    return _prepare_case(tmp, src, "aridity_index", attributes=["aridity_index", "meanP"])


# ----------------------------------------------------------------------------- standard forms
@case
def std_forcing_not_netcdf(tmp, shared):
    return _std_case(tmp, shared, "forcing!", lambda p: p.write_text("P,T,PET\n1,2,3\n"),
                     "unit_forcing.nc", "not a readable NetCDF")


@case
def std_forcing_empty_file(tmp, shared):
    return _std_case(tmp, shared, "forcing!", lambda p: p.write_bytes(b""),
                     "unit_forcing.nc", "not a readable NetCDF")


@case
def std_forcing_partial_download(tmp, shared):
    def cut(p):
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 2])
    return _std_case(tmp, shared, "forcing!", cut, "unit_forcing.nc", "re-download")


@case
def std_forcing_is_a_folder(tmp, shared):
    def to_dir(p):
        p.unlink()
        p.mkdir()
    return _std_case(tmp, shared, "forcing!", to_dir, "unit_forcing.nc", "folder")


@case
def std_forcing_is_an_observation_file(tmp, shared):
    def swap(p):
        shutil.copy(shared["std"]["observations"], p)
    return _std_case(tmp, shared, "forcing!", swap, "unit_forcing.nc", "has no 'unit'")


@case
def std_forcing_kelvin(tmp, shared):
    def kelvin(ds):
        ds["T"] = ds["T"] + 273.15
        ds["T"].attrs["units"] = "K"
        return ds
    return _std_case(tmp, shared, "forcing", kelvin, "unit_forcing.nc", "units 'K'")


@case
def std_forcing_precipitation_in_metres(tmp, shared):
    def metres(ds):
        ds["P"] = ds["P"] / 1000
        ds["P"].attrs["units"] = "m"
        return ds
    return _std_case(tmp, shared, "forcing", metres, "variable P", "'m'")


@case
def std_forcing_without_precipitation(tmp, shared):
    return _std_case(tmp, shared, "forcing", lambda ds: ds.drop_vars("P"), "'P'")


@case
def std_forcing_time_not_increasing(tmp, shared):
    def shuffle(ds):
        order = np.arange(ds.sizes["time"])
        order[[100, 101]] = order[[101, 100]]
        return ds.isel(time=order)
    return _std_case(tmp, shared, "forcing", shuffle, "unit_forcing.nc", "not increasing")


@case
def std_forcing_duplicate_day(tmp, shared):
    def dup(ds):
        order = np.arange(ds.sizes["time"])
        order[101] = 100
        return ds.isel(time=order)
    return _std_case(tmp, shared, "forcing", dup, "unit_forcing.nc", "appears twice")


@case
def std_forcing_missing_days(tmp, shared):
    def drop(ds):
        keep = np.ones(ds.sizes["time"], bool)
        keep[200:210] = False
        return ds.isel(time=keep)
    return _std_case(tmp, shared, "forcing", drop, "unit_forcing.nc", "gap-free daily")


@case
def std_forcing_time_without_units(tmp, shared):
    def plain(ds):
        return ds.assign_coords(time=np.arange(ds.sizes["time"]))
    return _std_case(tmp, shared, "forcing", plain, "unit_forcing.nc", "not a date axis")


@case
def std_forcing_duplicate_units(tmp, shared):
    def dup(ds):
        return ds.assign_coords(unit=[BASINS[0]] * ds.sizes["unit"])
    return _std_case(tmp, shared, "forcing", dup, "unit_forcing.nc", "duplicate unit")


@case
def std_forcing_ids_lost_leading_zero(tmp, shared):
    def as_int(ds):
        return ds.assign_coords(unit=[int(u) for u in ds["unit"].values])
    return _std_case(tmp, shared, "forcing", as_int, "unit attributes", "do not cover")


@case
def std_observations_cubic_feet(tmp, shared):
    def cfs(ds):
        ds["streamflow"].attrs["units"] = "ft3 s-1"
        return ds
    return _std_case(tmp, shared, "observations", cfs, "gauge_observations.nc", "'ft3 s-1'")


@case
def std_observations_time_not_increasing(tmp, shared):
    def rev(ds):
        return ds.isel(time=slice(None, None, -1))
    return _std_case(tmp, shared, "observations", rev, "gauge_observations.nc",
                     "not increasing")


@case
def std_observations_gauge_all_missing(tmp, shared):
    def blank(ds):
        ds["streamflow"][:, 1] = np.nan
        return ds
    return _std_case(tmp, shared, "observations", blank, f"gauge {BASINS[1]}", "all observations")


@case
def std_membership_negative_weight(tmp, shared):
    def neg(ds):
        ds["weight"][0] = -1.0
        return ds
    return _std_case(tmp, shared, "membership", neg, "gauge_membership.nc", "positive")


@case
def std_membership_duplicate_pair(tmp, shared):
    def dup(ds):
        return ds.isel(pair=[0, 0, 1, 2])
    return _std_case(tmp, shared, "membership", dup, "gauge_membership.nc", "duplicate")


@case
def std_attributes_missing_unit(tmp, shared):
    return _std_case(tmp, shared, "attributes", lambda ds: ds.isel(unit=[0, 1]),
                     "unit attributes", "do not cover")


@case
def std_attributes_nan_area(tmp, shared):
    def nan(ds):
        ds["uparea"][2] = np.nan
        return ds
    return _std_case(tmp, shared, "attributes", nan, "uparea", BASINS[2])


@case
def std_attributes_missing_model_attribute(tmp, shared):
    return _std_case(tmp, shared, "attributes", lambda ds: ds.drop_vars("aridity"),
                     "'aridity'", "model.attributes")


# ----------------------------------------------------------------------------- training
@case
def train_run_dir_is_a_file(tmp, shared):
    (tmp / "run").write_text("notes")
    conf = _yaml(tmp / "ok.yaml", _cfg(epochs=1))
    return Case(["train", "--config", conf, "--run-dir", tmp / "run"], ("run", "is a file"))


@case
def train_gauge_list_missing(tmp, shared):
    return _train_case(tmp, _cfg(gauges=str(tmp / "gauges.txt")), "gauges.txt", "not found")


@case
def train_resume_with_another_config(tmp, shared):
    shutil.copytree(shared["run"], tmp / "run")
    conf = _yaml(tmp / "other.yaml", _cfg(epochs=5))
    return Case(["train", "--config", conf, "--run-dir", tmp / "run"],
                ("run", "checkpoints of a different config"))


@case
def train_gauge_without_observations(tmp, shared):
    ts = _caravan_copy(tmp)
    p = ts / f"{BASINS[2]}.csv"
    _write_lines(p, [",".join(ln.split(",")[:3] + ["NA"]) for ln in _lines(p)])
    cfg = _cfg()
    cfg["datasets"]["three"]["sources"][0]["timeseries_dir"] = str(ts)
    return _train_case(tmp, cfg, f"gauge {BASINS[2]}", "all observations are NaN")


@case
def train_forcing_gap(tmp, shared):
    ts = _caravan_copy(tmp)
    p = ts / f"{BASINS[1]}.csv"
    lines = _lines(p)
    for k in range(400, 460):                       # two months of 1982 without P
        lines[k] = "NA," + lines[k].split(",", 1)[1]
    _write_lines(p, lines)
    cfg = _cfg()
    cfg["datasets"]["three"]["sources"][0]["timeseries_dir"] = str(ts)
    return _train_case(tmp, cfg, f"unit {BASINS[1]}", "P is NaN on 60 day(s)",
                       "data.forcing_gaps")


# ----------------------------------------------------------------------------- simulation
@case
def sim_model_garbage(tmp, shared):
    run = _run_copy(tmp, shared)
    (run / "model.pt").write_bytes(b"\x00garbage" * 50)
    return Case(_simulate(shared, tmp, *SIM_PERIOD, run=run), ("model.pt", "corrupt"),
                outputs=[tmp / "sim.nc"])


@case
def sim_model_truncated(tmp, shared):
    run = _run_copy(tmp, shared)
    data = (run / "model.pt").read_bytes()
    (run / "model.pt").write_bytes(data[: len(data) // 2])
    return Case(_simulate(shared, tmp, *SIM_PERIOD, run=run), ("model.pt", "truncated"),
                outputs=[tmp / "sim.nc"])


@case
def sim_model_from_another_program(tmp, shared):
    run = _run_copy(tmp, shared)
    torch.save({"state_dict": {"w": torch.zeros(3)}, "epoch": 10}, run / "model.pt")
    return Case(_simulate(shared, tmp, *SIM_PERIOD, run=run), ("model.pt", "not a dhbv run"),
                outputs=[tmp / "sim.nc"])


@case
def sim_model_weights_of_another_size(tmp, shared):
    run = _run_copy(tmp, shared)
    blob = torch.load(run / "model.pt", weights_only=False)
    blob["config"]["model"]["lstm_hidden"] = 16
    torch.save(blob, run / "model.pt")
    return Case(_simulate(shared, tmp, *SIM_PERIOD, run=run), ("model.pt", "do not fit"),
                outputs=[tmp / "sim.nc"])


@case
def sim_statistics_missing(tmp, shared):
    run = _run_copy(tmp, shared)
    (run / "normalization_statistics.json").unlink()
    return Case(_simulate(shared, tmp, *SIM_PERIOD, run=run),
                ("normalization_statistics.json", "does not exist"), outputs=[tmp / "sim.nc"])


@case
def sim_statistics_corrupt(tmp, shared):
    run = _run_copy(tmp, shared)
    (run / "normalization_statistics.json").write_text('{"P": [0.1, 0.2')
    return Case(_simulate(shared, tmp, *SIM_PERIOD, run=run),
                ("normalization_statistics.json", "not valid JSON"), outputs=[tmp / "sim.nc"])


@case
def sim_statistics_of_another_run(tmp, shared):
    run = _run_copy(tmp, shared)
    path = run / "normalization_statistics.json"
    stats = json.loads(path.read_text())
    stats.pop("aridity")
    path.write_text(json.dumps(stats))
    return Case(_simulate(shared, tmp, *SIM_PERIOD, run=run),
                ("normalization_statistics.json", "'aridity'", "another run"),
                outputs=[tmp / "sim.nc"])


@case
def parameters_out_is_a_folder(tmp, shared):
    (tmp / "ranges.csv").mkdir()
    return Case(["parameters", "--run-dir", shared["run"], "--out", tmp / "ranges.csv"],
                ("ranges.csv", "is a folder"))


@case
def parameters_reversed_period(tmp, shared):
    return Case(["parameters", "--run-dir", shared["run"], "--period", "1996-12-31",
                 "1996-01-01", "--out", tmp / "ranges.csv"], ("--period", "before start"),
                outputs=[tmp / "ranges.csv"])


@case
def sim_run_dir_missing(tmp, shared):
    return Case(_simulate(shared, tmp, *SIM_PERIOD, run=tmp / "runs"), ("model.pt", "not found"),
                outputs=[tmp / "sim.nc"])


@case
def sim_reversed_period(tmp, shared):
    return Case(_simulate(shared, tmp, "--period", "1997-01-01", "1996-01-01"),
                ("--period", "before start"), outputs=[tmp / "sim.nc"])


@case
def sim_period_impossible_date(tmp, shared):
    return Case(_simulate(shared, tmp, "--period", "1996-02-30", "1996-12-31"),
                ("--period", "YYYY-MM-DD"), outputs=[tmp / "sim.nc"])


@case
def sim_period_after_the_record(tmp, shared):
    return Case(_simulate(shared, tmp, "--period", "2030-01-01", "2030-12-31"),
                ("2030-01-01", "outside the data record"), outputs=[tmp / "sim.nc"])


@case
def sim_output_is_a_folder(tmp, shared):
    (tmp / "sim.nc").mkdir()
    return Case(_simulate(shared, tmp, *SIM_PERIOD), ("sim.nc", "is a folder"))


@case
def sim_output_folder_is_a_file(tmp, shared):
    (tmp / "results").write_text("")
    return Case(["simulate", "--run-dir", shared["run"], "--out", tmp / "results" / "sim.nc",
                 *SIM_PERIOD], ("results", "is a file"))


@case
def sim_scores_path_is_a_folder(tmp, shared):
    (tmp / "scores").mkdir()
    return Case(_simulate(shared, tmp, *SIM_PERIOD, "--scores", tmp / "scores", "--obs-out",
                          tmp / "obs.nc"),
                ("scores", "is a folder"), outputs=[tmp / "sim.nc", tmp / "obs.nc"])


@case
def sim_member_out_of_range(tmp, shared):
    return Case(_simulate(shared, tmp, *SIM_PERIOD, "--member", "3"), ("member 3",),
                outputs=[tmp / "sim.nc"])


@case
def sim_option_member_as_word(tmp, shared):
    return Case(_simulate(shared, tmp, *SIM_PERIOD, "--member", "two"), ("--member", "'two'"),
                outputs=[tmp / "sim.nc"])


@case
def sim_option_negative_spinup(tmp, shared):
    return Case(_simulate(shared, tmp, *SIM_PERIOD, "--spinup", "-30"), ("--spinup", "'-30'"),
                outputs=[tmp / "sim.nc"])


@case
def sim_config_with_unknown_key(tmp, shared):
    conf = _yaml(tmp / "c.yaml", {"datasets": _cfg()["datasets"], "simulate": {"perod": None}})
    return Case(_simulate(shared, tmp, *SIM_PERIOD, "--config", conf), ("c.yaml", "perod"),
                outputs=[tmp / "sim.nc"])


@case
def sim_dataset_name_unknown(tmp, shared):
    conf = _yaml(tmp / "c.yaml", {"datasets": _cfg()["datasets"]})
    return Case(_simulate(shared, tmp, *SIM_PERIOD, "--config", conf, "--dataset", "thre"),
                ("'thre'",), outputs=[tmp / "sim.nc"])


@case
def sim_forcing_gap_two_months(tmp, shared):
    def gap(ds):
        ds["P"][ds.indexes["time"].get_loc(pd.Timestamp("1996-06-01")):][:61] = np.nan
        return ds
    return _std_case(tmp, shared, "forcing", gap, "P is NaN on 61 day(s)", "1996-06-01",
                     "data.forcing_gaps", cmd="simulate")


@case
def sim_scores_fail_after_the_simulation(tmp, shared):
    """Scoring is the last step: when it fails, the streamflow and observation files that were
    already computed do not appear either."""
    def negative(ds):
        ds["streamflow"].loc["1996-05-01", BASINS[2]] = -3.0
        return ds
    c = _std_case(tmp, shared, "observations", negative, BASINS[2], "negative", cmd="simulate")
    c.argv += ["--scores", tmp / "scores.csv", "--obs-out", tmp / "obs.nc"]
    c.outputs += [tmp / "scores.csv", tmp / "obs.nc"]
    return c


@case
def sim_forcing_is_a_gauge_file(tmp, shared):
    return _std_case(tmp, shared, "forcing!", lambda p: shutil.copy(shared["std"]["membership"], p),
                     "unit_forcing.nc", "has no 'time'", cmd="simulate")


# ----------------------------------------------------------------------------- evaluation
def _evaluate(tmp, sim, obs, *extra):
    return Case(["evaluate", "--sim", sim, "--obs", obs, "--out", tmp / "s.csv", *extra],
                outputs=[tmp / "s.csv"])


def _sim_file(tmp, shared) -> Path:
    from dhbv.io.standard import read_gauge_observations

    obs = read_gauge_observations(shared["std"]["observations"])
    obs.fillna(1.0).to_netcdf(tmp / "given_sim.nc")
    return tmp / "given_sim.nc"


@case
def eval_sim_not_netcdf(tmp, shared):
    (tmp / "sim.nc").write_text("gauge,nse\n")
    c = _evaluate(tmp, tmp / "sim.nc", shared["std"]["observations"])
    c.culprits = ("sim.nc", "NetCDF")
    return c


@case
def eval_sim_is_forcing(tmp, shared):
    c = _evaluate(tmp, shared["std"]["forcing"], shared["std"]["observations"])
    c.culprits = ("unit_forcing.nc", "'gauge'")
    return c


@case
def eval_obs_other_gauges(tmp, shared):
    sim = _sim_file(tmp, shared)
    with xr.open_dataset(shared["std"]["observations"]) as ds:
        ds.load().assign_coords(gauge=["1", "2", "3"]).to_netcdf(tmp / "obs.nc")
    c = _evaluate(tmp, sim, tmp / "obs.nc")
    c.culprits = ("gauge",)
    return c


@case
def eval_negative_observation(tmp, shared):
    sim = _sim_file(tmp, shared)
    with xr.open_dataset(shared["std"]["observations"]) as ds:
        ds = ds.load()
    ds["streamflow"].loc["1996-03-01", BASINS[0]] = -999.0
    ds.to_netcdf(tmp / "obs.nc")
    c = _evaluate(tmp, sim, tmp / "obs.nc")
    c.culprits = (BASINS[0], "negative")
    return c


@case
def eval_period_without_days(tmp, shared):
    c = _evaluate(tmp, _sim_file(tmp, shared), shared["std"]["observations"], "--period",
                  "2030-01-01", "2030-12-31")
    c.culprits = ("2030-01-01",)
    return c


@case
def eval_reversed_period(tmp, shared):
    c = _evaluate(tmp, _sim_file(tmp, shared), shared["std"]["observations"], "--period",
                  "1996-12-31", "1996-01-01")
    c.culprits = ("--period", "before start")
    return c


@case
def eval_option_min_days_as_word(tmp, shared):
    c = _evaluate(tmp, _sim_file(tmp, shared), shared["std"]["observations"], "--min-days",
                  "a year")
    c.culprits = ("--min-days", "'a year'")
    return c


@case
def eval_out_is_a_folder(tmp, shared):
    c = _evaluate(tmp, _sim_file(tmp, shared), shared["std"]["observations"])
    (tmp / "s.csv").mkdir()
    c.outputs, c.culprits = [], ("s.csv",)
    return c


@case
def eval_sim_file_missing(tmp, shared):
    c = _evaluate(tmp, tmp / "sim_1996.nc", shared["std"]["observations"])
    c.culprits = ("sim_1996.nc",)
    return c


@case
def eval_obs_units_other_than_declared(tmp, shared):
    """The observations' units attribute says mm d-1, the user declares m3 s-1."""
    c = _evaluate(tmp, _sim_file(tmp, shared), shared["std"]["observations"], "--obs-units",
                  "m3 s-1")
    c.culprits = ("'mm d-1'", "'m3 s-1' was declared")
    return c


@case
def eval_obs_values_in_cubic_feet(tmp, shared):
    """Flows in ft3 s-1 stored under the attribute mm d-1 (values in other units than
    declared): caught by their size."""
    sim = _sim_file(tmp, shared)
    with xr.open_dataset(shared["std"]["observations"]) as ds:
        ds = ds.load()
    ds["streamflow"] = ds["streamflow"] * ds["area"] / 86.4 / 0.0283168
    ds["streamflow"].attrs["units"] = "mm d-1"
    ds.to_netcdf(tmp / "obs_cfs.nc")
    c = _evaluate(tmp, sim, tmp / "obs_cfs.nc")
    c.culprits = ("obs_cfs.nc", "not in the declared units 'mm d-1'")
    return c


@case
def eval_sim_lacks_gauges(tmp, shared):
    """The simulation holds 2 of the 3 observed gauges."""
    sim = _sim_file(tmp, shared)
    with xr.open_dataset(sim) as ds:
        ds.load().isel(gauge=[0, 1]).to_netcdf(tmp / "short.nc")
    c = _evaluate(tmp, sim, shared["std"]["observations"], "--sim", f"short={tmp / 'short.nc'}")
    c.culprits = ("model short", f"1 of 3 gauges missing from the simulation (first {BASINS[2]})")
    return c


@case
def eval_model_named_twice(tmp, shared):
    """A bare file is named by its stem; the same name again is an error, not an overwrite."""
    sim = _sim_file(tmp, shared)
    c = _evaluate(tmp, sim, shared["std"]["observations"], "--sim", f"given_sim={sim}")
    c.culprits = ("model name 'given_sim' given twice",)
    return c


# ----------------------------------------------------------------------------- network
def _network_call(tmp, table: pd.DataFrame, **kw):
    from dhbv.network import build_topology

    table.to_csv(tmp / "reaches.csv", index=False)
    return lambda: build_topology(tmp / "reaches.csv", out_path=tmp / "network.nc", **kw)


def _juniata() -> pd.DataFrame:
    return pd.read_csv(JUNIATA)


@case
def net_lost_row_second_outlet(tmp, shared):
    t = _juniata()
    gone = int(t["NextDownID"].iloc[0])
    t = t[t["COMID"] != gone].drop(columns=["up1", "up2", "up3", "up4"])
    return Case(call=_network_call(tmp, t), culprits=("reaches.csv", str(gone),
                                                      "network.dangling_downstream"),
                outputs=[tmp / "network.nc"])


@case
def net_lost_row_with_up_fields(tmp, shared):
    t = _juniata()
    gone = int(t["NextDownID"].iloc[0])
    t = t[t["COMID"] != gone]
    return Case(call=_network_call(tmp, t), culprits=("reaches.csv", "not in the table"),
                outputs=[tmp / "network.nc"])


@case
def net_cycle(tmp, shared):
    t = _juniata().drop(columns=["up1", "up2", "up3", "up4"])
    outlet = t.index[t["NextDownID"] <= 0][0]
    t.loc[outlet, "NextDownID"] = int(t["COMID"].iloc[0])
    return Case(call=_network_call(tmp, t), culprits=("reaches.csv", "cycle"),
                outputs=[tmp / "network.nc"])


@case
def net_duplicate_reach(tmp, shared):
    t = _juniata()
    t = pd.concat([t, t.iloc[[5]]], ignore_index=True)
    return Case(call=_network_call(tmp, t), culprits=("reaches.csv", "duplicate"),
                outputs=[tmp / "network.nc"])


@case
def net_missing_downstream_column(tmp, shared):
    t = _juniata().drop(columns=["NextDownID"])
    return Case(call=_network_call(tmp, t), culprits=("reaches.csv", "NextDownID"),
                outputs=[tmp / "network.nc"])


@case
def net_length_in_text(tmp, shared):
    t = _juniata()
    t["lengthkm"] = t["lengthkm"].astype(str)
    t.loc[3, "lengthkm"] = "1,2 km"
    return Case(call=_network_call(tmp, t), culprits=("reaches.csv", "lengthkm"),
                outputs=[tmp / "network.nc"])


@case
def net_output_is_a_folder(tmp, shared):
    (tmp / "network.nc").mkdir()
    return Case(call=_network_call(tmp, _juniata()), culprits=("network.nc", "is a folder"))


def _gauges_call(tmp, shared, table: pd.DataFrame | None = None, staids=("01567000",),
                 network=None):
    from dhbv.network.gauges import build_gauge_subnetworks

    if table is None:
        table = pd.read_csv(GAUGES, dtype={"STAID": str})
    table.to_csv(tmp / "gauges.csv", index=False)
    return lambda: build_gauge_subnetworks(network or shared["network"], tmp / "gauges.csv",
                                           list(staids), tmp / "subnetworks.nc")


GAUGES = DEMO / "juniata_merit" / "juniata_gage.csv"


@case
def net_file_is_a_forcing_file(tmp, shared):
    return Case(call=_gauges_call(tmp, shared, network=shared["std"]["forcing"]),
                culprits=("unit_forcing.nc", "not a dhbv network file"),
                outputs=[tmp / "subnetworks.nc"])


@case
def net_gauge_table_without_comid(tmp, shared):
    table = pd.read_csv(GAUGES, dtype={"STAID": str}).rename(columns={"COMID": "comid_merit"})
    return Case(call=_gauges_call(tmp, shared, table), culprits=("gauges.csv", "'COMID'"),
                outputs=[tmp / "subnetworks.nc"])


@case
def net_gauge_not_in_table(tmp, shared):
    return Case(call=_gauges_call(tmp, shared, staids=("01567500",)),
                culprits=("gauges.csv", "01567500"), outputs=[tmp / "subnetworks.nc"])


@case
def net_gauge_in_another_basin(tmp, shared):
    table = pd.read_csv(GAUGES, dtype={"STAID": str})
    table.loc[0, "COMID"] = 71028189                 # a Bow River reach, not the Juniata
    return Case(call=_gauges_call(tmp, shared, table), culprits=("71028189", "not in the network"),
                outputs=[tmp / "subnetworks.nc"])


# ----------------------------------------------------------------------------- gridded forcing
GRID = DEMO / "stehekin_12451000" / "gridded_maurer2002" / "stehekin_maurer2002_daily_1949-2005.nc"
BASIN = DEMO / "stehekin_12451000" / "basin_12451000_hysets_epsg4326.geojson"
VARIABLES = {"P": "prcp", "Tmax": "tmax", "Tmin": "tmin"}


def _weights_call(tmp, polygons=BASIN, id_field="OfficialID", grid=GRID, **kw):
    from dhbv.forcing.weights import build_coverage_weights

    return lambda: build_coverage_weights(grid, polygons, id_field, tmp / "w.npz", **kw)


def _aggregate_call(tmp, weights, variables=VARIABLES, period=("1980-01-01", "1980-12-31")):
    from dhbv.forcing import aggregate_forcing

    return lambda: aggregate_forcing(GRID, weights, BASIN, tmp / "forcing.nc",
                                     variables=variables, start=period[0], end=period[1])


@case
def forcing_polygons_without_crs(tmp, shared):
    import geopandas as gpd

    g = gpd.read_file(BASIN)
    g = gpd.GeoDataFrame({"OfficialID": g["OfficialID"]}, geometry=list(g.geometry))
    assert g.crs is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        g.to_file(tmp / "basin.shp")                  # a shapefile without its .prj
    return Case(call=_weights_call(tmp, tmp / "basin.shp"), culprits=("basin.shp", "no CRS"),
                outputs=[tmp / "w.npz"])


@case
def forcing_polygons_crs_mislabelled(tmp, shared):
    import geopandas as gpd

    g = gpd.read_file(BASIN)[["OfficialID", "geometry"]].to_crs(32610)
    g.set_crs(4326, allow_override=True).to_file(tmp / "basin.gpkg")   # UTM metres as degrees
    return Case(call=_weights_call(tmp, tmp / "basin.gpkg"),
                culprits=("basin.gpkg", "not degrees", "mislabelled"), outputs=[tmp / "w.npz"])


@case
def forcing_grid_crs_mislabelled(tmp, shared):
    x, y = 600000.0 + 1000.0 * np.arange(5), 5300000.0 + 1000.0 * np.arange(4)
    grid = xr.Dataset({"prcp": (("time", "y", "x"), np.zeros((2, 4, 5), np.float32))},
                      coords={"time": pd.date_range("1980-01-01", periods=2), "x": x, "y": y})
    grid.to_netcdf(tmp / "grid_utm.nc")
    return Case(call=_weights_call(tmp, grid=tmp / "grid_utm.nc", crs="EPSG:4326"),
                culprits=("grid_utm.nc", "not degrees"), outputs=[tmp / "w.npz"])


@case
def forcing_polygon_id_field_wrong(tmp, shared):
    return Case(call=_weights_call(tmp, id_field="gauge_id"),
                culprits=("basin_12451000", "'gauge_id'"), outputs=[tmp / "w.npz"])


@case
def forcing_grid_not_netcdf(tmp, shared):
    (tmp / "grid.nc").write_text("<html>404 Not Found</html>")
    return Case(call=_weights_call(tmp, grid=tmp / "grid.nc"), culprits=("grid.nc",),
                outputs=[tmp / "w.npz"])


def _aggregate_case(tmp, weights, *culprits, **kw):
    return Case(call=_aggregate_call(tmp, weights, **kw), culprits=culprits,
                outputs=[tmp / "forcing.nc"])


FORCING_CASES = {   # name: (aggregate_forcing arguments, texts the error must hold)
    "forcing_temperature_units_mislabelled": (
        {"variables": {**VARIABLES, "Tmax": {"name": "tmax", "units": "K"}}}, ("'tmax'", "'K'")),
    "forcing_variable_name_wrong": ({"variables": {**VARIABLES, "P": "precip"}}, ("'precip'",)),
    "forcing_period_outside_the_grid": ({"period": ("2010-01-01", "2010-12-31")},
                                        ("2010-01-01", "no days")),
}


def _forcing_case(kw, culprits):
    def build(tmp, shared):
        return _aggregate_case(tmp, shared["weights"], "stehekin_maurer2002", *culprits, **kw)
    return build


CASES.update({name: _forcing_case(*spec) for name, spec in FORCING_CASES.items()})


@case
def forcing_weights_corrupt(tmp, shared):
    (tmp / "w.npz").write_bytes(b"PK\x03\x04 not a zip")
    return _aggregate_case(tmp, tmp / "w.npz", "w.npz", "rebuild")


# ----------------------------------------------------------------------------- the runner
def _snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.is_dir(), None if p.is_dir() else p.stat().st_mtime_ns)
            for p in root.rglob("*")}


def _check_line(lines: list[str], prefix: str, culprits) -> str:
    assert not any("Traceback" in ln for ln in lines), "\n".join(lines)
    msg = [ln for ln in lines if not LOG_LINE.match(ln)]
    assert len(msg) == 1, "\n".join(lines)
    assert msg[0].startswith(prefix), msg[0]
    for c in culprits:
        assert str(c) in msg[0], f"{c!r} not in: {msg[0]}"
    return msg[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_broken_input_stops_with_one_line_and_writes_nothing(name, shared, tmp_path, capsys):
    c = CASES[name](tmp_path, shared)
    assert c.culprits, "a case must name what its message has to contain"
    before, shared_before = _snapshot(tmp_path), _snapshot(shared["run"])
    if c.call is not None:
        with pytest.raises(DhbvInputError) as err:
            c.call()
        _check_line(str(err.value).splitlines() or [""], "", c.culprits)
    else:
        argv = [str(a) for a in c.argv]
        try:
            rc = main(argv)
        except SystemExit as stop:           # argparse errors
            rc = stop.code
        assert rc == 2
        _check_line(capsys.readouterr().err.strip().splitlines(), f"dhbv {argv[0]}: error: ",
                    c.culprits)
    assert _snapshot(tmp_path) == before, "the command wrote or changed files"
    assert _snapshot(shared["run"]) == shared_before
    for out in c.outputs:
        assert not Path(out).exists()


def test_the_matrix_holds_at_least_sixty_cases():
    assert len(CASES) + len(WORKFLOW_CASES) >= 60


# ----------------------------------------------------------------------------- forcing gaps
def test_interpolated_forcing_gaps_are_reported_and_left_out_of_the_scores(shared, tmp_path,
                                                                           caplog):
    """data.forcing_gaps: interpolate: the run goes on, the log counts the gap, and the
    flagged gauge days do not enter the scores."""
    from dhbv.simulation import simulate

    forms = _std_copy(tmp_path, shared)

    def gap(ds):
        i = ds.indexes["time"].get_loc(pd.Timestamp("1996-06-01"))
        ds["P"][i:i + 61, 1] = np.nan
        return ds
    _edit_nc(forms["forcing"], gap)
    dataset = {"sources": [standard_source(**forms)]}
    out, scores = tmp_path / "sim.nc", tmp_path / "s.csv"
    with caplog.at_level("WARNING"):
        simulate(shared["run"], dataset, out, ["1996-01-01", "1996-12-31"], scores_out=scores,
                 forcing_gaps="interpolate", min_days=30)
    assert any("61 unit-days in 1 unit(s)" in r.getMessage() for r in caplog.records)
    with xr.open_dataset(out) as ds:
        flag = ds["forcing_gap_filled"].to_pandas()
    assert flag[BASINS[1]].sum() == 61 and flag[BASINS[0]].sum() == 0
    t = pd.read_csv(scores, dtype={"gauge": str}).set_index("gauge")
    # the same scores from the file without the flagged days' observations
    with xr.open_dataset(out) as ds:
        ds = ds.load()
    ds["observed"] = ds["observed"].where(ds["forcing_gap_filled"] == 0)
    ds = ds.drop_vars("forcing_gap_filled")
    ds.to_netcdf(tmp_path / "masked.nc")
    from dhbv.evaluation import score

    ref = score(tmp_path / "masked.nc", tmp_path / "masked.nc", tmp_path / "ref.csv",
                min_days=30).set_index("gauge")
    np.testing.assert_allclose(t.loc[BASINS, "nse"], ref.loc[BASINS, "nse"])
    assert t.loc[BASINS[1], "n_days"] == ref.loc[BASINS[1], "n_days"] < 366


def test_training_with_interpolated_gaps_runs_and_reports_them(tmp_path, caplog):
    from dhbv.training import train

    case = CASES["train_forcing_gap"](tmp_path, None)         # two months of 1982 without P
    cfg = yaml.safe_load(Path(case.argv[2]).read_text())
    cfg["data"] = {"forcing_gaps": "interpolate"}
    cfg["train"].update(epochs=1, iterations_per_epoch=1)
    with caplog.at_level("WARNING"):
        out = train(cfg, tmp_path / "run")
    assert out.exists()
    msg = [r.getMessage() for r in caplog.records if "forcing gaps filled" in r.getMessage()]
    assert len(msg) == 1 and "60 unit-days in 1 unit(s)" in msg[0]
    assert f"unit {BASINS[1]}: P is NaN on 60 day(s)" in msg[0]
    assert "60 gauge-days left out" in msg[0]


# ----------------------------------------------------------------------------- workflow
WORKFLOW_CASES = {
    "wf_integer_as_word": ({"train": {"epochs": "six"}}, ("train.epochs",)),
    "wf_missing_flowlines": ({"domains": {"juniata": {"flowlines": "resources/x/reaches.csv"}}},
                             ("domains.juniata.flowlines", "resources/x/reaches.csv")),
    "wf_gap_policy_typo": ({"data": {"forcing_gaps": "skip"}}, ("data.forcing_gaps",)),
    # the LSTM baseline of the comparison with a hidden size of 0
    "wf_baseline_hidden_zero": ({"evaluation": {"models": {"LSTM": {"source": "lstm",
                                                                    "lstm_hidden": 0}}}},
                                ("evaluation.models.LSTM.lstm_hidden",)),
    # domain simulation: the Caravan demo's 1982-2014 is 33 years, which 2-year chunks do not
    # divide (Stehekin's 1950-2005, 56 years, they do)
    "wf_domain_chunk_years": ({"simulate_domain": {"chunk_years": 2}},
                              ("simulate_domain.chunk_years 2 does not divide the period of "
                               "33 years (simulate_domain.periods.demo_caravan",)),
    # a forcing set without unit attributes (neither subunits_of nor an attribute table)
    "wf_domain_units_without_attributes": ({"simulate_domain": {"datasets": ["stehekin_basin"]}},
                                           ("simulate_domain.datasets", "'stehekin_basin'")),
}


def test_workflow_rule_with_a_broken_file_echoes_one_line_and_leaves_no_output(workflow_copy):
    """A real job: build_training_data meets a Caravan cell that is not a number; the rule's
    line names file and row, and none of the dataset's four files is left."""
    ts = workflow_copy / "bad_timeseries"
    ts.mkdir()
    for b in BASINS:
        shutil.copy(CARAVAN / f"{b}.csv", ts / f"{b}.csv")
    lines = _lines(ts / f"{BASINS[1]}.csv")
    lines[99] = "1.0,n.a.,2.0,3.0"
    _write_lines(ts / f"{BASINS[1]}.csv", lines)
    src = dict(_cfg()["datasets"]["three"]["sources"][0], timeseries_dir="bad_timeseries",
               attributes_dir="resources/demo/camels_us/attributes")
    conf = workflow_copy / "wf_bad_cell.yaml"
    conf.write_text(yaml.safe_dump({"datasets": {"bad": {"sources": [src]}}}))
    proc = run_snakemake(workflow_copy, "results/datasets/bad/unit_forcing.nc", "--cores", "1",
                         "--configfile", conf.name, timeout=300)
    assert proc.returncode != 0
    msg = [ln for ln in proc.stderr.splitlines() if ln.startswith("DhbvInputError: ")]
    assert len(msg) == 1, proc.stderr[-2000:]
    assert f"{BASINS[1]}.csv: row 100 column T: 'n.a.' is not a number" in msg[0]
    assert not (workflow_copy / "results" / "datasets" / "bad").exists() or not any(
        (workflow_copy / "results" / "datasets" / "bad").iterdir())
    log = workflow_copy / "logs" / "build_training_data" / "bad.log"
    assert "row 100 column T" in log.read_text()


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("wf"))


@pytest.mark.parametrize("name", sorted(WORKFLOW_CASES))
def test_workflow_stops_before_any_job_with_one_line(name, workflow_copy):
    over, culprits = WORKFLOW_CASES[name]
    conf = workflow_copy / f"{name}.yaml"
    conf.write_text(yaml.safe_dump(over))
    before = _snapshot(workflow_copy)
    proc = run_snakemake(workflow_copy, "-n", "--cores", "1", "--configfile", conf.name,
                         timeout=300)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr and 'File "' not in proc.stdout + proc.stderr
    msg = [ln for ln in proc.stderr.splitlines() if ln.startswith("dhbv workflow: error: ")]
    assert len(msg) == 1, proc.stdout[-1000:] + proc.stderr[-1000:]
    for c in (conf.name, *culprits):
        assert c in msg[0], msg[0]
    after = _snapshot(workflow_copy)
    new = {k for k in set(after) - set(before) if not k.startswith(".snakemake")}
    assert not new, new
