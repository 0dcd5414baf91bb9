"""Forcing slices of a domain simulation's chunks (slice_domain_forcing, dhbv.time_chunks)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dhbv.errors import DhbvInputError
from dhbv.simulation.inputs import slice_domain_forcing
from dhbv.time_chunks import chunk_window, parse_chunk_label


@pytest.fixture()
def forcing(tmp_path):
    t = pd.date_range("1990-01-01", "1992-12-31", freq="D")
    v = np.arange(len(t) * 2, dtype=np.float32).reshape(len(t), 2)
    ds = xr.Dataset({k: (("time", "unit"), v + i) for i, k in enumerate(("P", "T", "PET"))},
                    coords={"time": t, "unit": ["a", "b"], "area": ("unit", [1.0, 2.0]),
                            "lat": ("unit", [45.0, 46.0]), "lon": ("unit", [-100.0, -101.0])})
    path = tmp_path / "unit_forcing.nc"
    ds.to_netcdf(path)
    return path, ds


def test_slices_hold_the_chunk_days_and_the_first_its_spin_up(forcing, tmp_path):
    path, ds = forcing
    out = slice_domain_forcing(path, tmp_path / "s1.nc", "19920101-19921231", first=False,
                               spinup_days=None)
    with xr.open_dataset(out) as s:
        assert s.sizes["time"] == 366                                  # 1992 is a leap year
        np.testing.assert_array_equal(s["P"].values, ds["P"].sel(time=slice("1992", "1992")))
    # first chunk, 100 spin-up days: from 1990-09-23 (1991-01-01 minus 100 days)
    out = slice_domain_forcing(path, tmp_path / "s0.nc", "19910101-19911231", first=True,
                               spinup_days=100)
    with xr.open_dataset(out) as s:
        assert str(s["time"].values[0])[:10] == "1990-09-23" and s.sizes["time"] == 465
    # spin-up longer than the record: shortened to the forcing start; full: from it
    assert chunk_window(parse_chunk_label("19910101-19911231"), first=True, spinup_days=9999,
                        forcing_start="1990-01-01")[0] == pd.Timestamp("1990-01-01")
    assert chunk_window(parse_chunk_label("19910101-19911231"), first=True, spinup_days="full",
                        forcing_start="1990-01-01")[0] == pd.Timestamp("1990-01-01")


def test_a_chunk_beyond_the_forcing_stops_with_one_line(forcing, tmp_path):
    path, _ = forcing
    with pytest.raises(DhbvInputError, match=r"covers 1990-01-01..1992-12-31, but chunk "
                       "19930101-19931231 needs 1993-01-01..1993-12-31") as err:
        slice_domain_forcing(path, tmp_path / "x.nc", "19930101-19931231", first=False,
                             spinup_days=None)
    assert "\n" not in str(err.value) and not (tmp_path / "x.nc").exists()
    with pytest.raises(DhbvInputError, match="is not YYYYMMDD-YYYYMMDD"):
        parse_chunk_label("1993-1994")
