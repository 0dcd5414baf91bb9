"""The domain simulation's output passes the IOOS compliance checker's CF 1.10 suite.

The chunk store is zarr; the checker reads NetCDF, so the store is copied to NetCDF with its
own encoding (time as int32 days since 1970, float32 fields). A negative control (a CF
standard name with incompatible units) shows the checker is really run. Skipped where the
checker or its UDUNITS-2 library is not installed (pip ``compliance-checker``; Debian
``libudunits2-0``).
"""
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import xarray as xr
import yaml

from test_training_resume import tiny_config

SUITE = "cf:1.10"


def _checker():
    try:
        import cf_units  # noqa: F401  (loads UDUNITS-2)
        import compliance_checker  # noqa: F401
    except Exception as e:  # ImportError, or OSError/FileNotFoundError without libudunits2
        pytest.skip(f"compliance checker unavailable: {type(e).__name__}")
    exe = Path(sys.executable).with_name("compliance-checker")
    if not exe.exists():
        found = shutil.which("compliance-checker")
        if not found:
            pytest.skip("compliance-checker command not found")
        exe = Path(found)
    return exe


def _check(exe, nc: Path, tmp: Path) -> dict:
    out = tmp / f"{nc.stem}.json"
    subprocess.run([str(exe), f"--test={SUITE}", "-f", "json", "-o", str(out), str(nc)],
                   capture_output=True, timeout=300)
    res = json.loads(out.read_text())[SUITE]
    res["messages"] = [f"{p['name']}: {m}" for key in ("high_priorities", "medium_priorities")
                       for p in res[key] for m in p["msgs"]]
    return res


def _as_netcdf(store: Path, nc: Path, edit=None):
    with xr.open_zarr(store, consolidated=False) as ds:
        ds = ds.load()
    for v in ds.variables:     # keep the store's own encoding of time and dtypes only
        ds[v].encoding = {k: e for k, e in ds[v].encoding.items()
                          if k in ("units", "calendar", "dtype")}
    if edit:
        edit(ds)
    ds.to_netcdf(nc)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from dhbv.cli import main
    from dhbv.simulation import domain as dom
    from dhbv.training import train

    tmp = tmp_path_factory.mktemp("cf")
    cfg = tiny_config(epochs=1, iterations_per_epoch=1, validation_period=None,
                      checkpoint_every_steps=None)
    train(copy.deepcopy(cfg), tmp / "run")
    (tmp / "ds.yaml").write_text(yaml.safe_dump({"datasets": cfg["datasets"],
                                                 "model": cfg["model"]}))
    assert main(["prepare", "--config", str(tmp / "ds.yaml"), "--out-dir", str(tmp / "std")]) == 0
    dom.simulate_domain(tmp / "run", {"forcing": str(tmp / "std/unit_forcing.nc"),
                                      "attributes": str(tmp / "std/unit_attributes.nc")},
                        tmp / "out", period=["1990-01-01", "1990-12-31"], chunk_years=1,
                        device="cpu", progress=False)
    return tmp, next((tmp / "out" / "chunks").glob("*.zarr"))


def test_domain_output_passes_the_cf_checker(store):
    exe = _checker()
    tmp, zarr_store = store
    nc = tmp / "chunk.nc"
    _as_netcdf(zarr_store, nc)
    res = _check(exe, nc, tmp)
    assert res["high_count"] == 0 and res["medium_count"] == 0, res["messages"]
    assert res["scored_points"] == res["possible_points"]


def test_the_checker_flags_a_standard_name_with_wrong_units(store):
    exe = _checker()
    tmp, zarr_store = store
    nc = tmp / "broken.nc"

    def edit(ds):      # SWE is a depth (mm); as a rate its standard name no longer fits
        ds["swe"].attrs["units"] = "mm d-1"

    _as_netcdf(zarr_store, nc, edit)
    res = _check(exe, nc, tmp)
    assert res["high_count"] >= 1
    assert any("swe" in m for m in res["messages"]), res["messages"]
