"""Sub-units of one gauged basin: inherited attributes, forcing-derived climate, membership."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dhbv.attributes.subunits import build_subunit_attributes
from dhbv.errors import DhbvInputError
from dhbv.io import standard as std

from conftest import DEMO

CAMELS = DEMO / "camels_us" / "attributes"


@pytest.fixture()
def subunit_forcing(tmp_path):
    time = pd.date_range("2000-01-01", periods=4, freq="D")
    P = np.array([[1.0, 4.0], [3.0, 4.0], [1.0, 2.0], [3.0, 2.0]])   # means 2.0, 3.0
    T = np.array([[0.0, 5.0], [2.0, 5.0], [0.0, 5.0], [2.0, 5.0]])   # means 1.0, 5.0
    PET = np.array([[1.0, 1.5], [1.0, 1.5], [1.0, 1.5], [1.0, 1.5]])  # means 1.0, 1.5
    ds = std.make_unit_forcing(time, ["SU01", "SU02"], P, T, PET, area=[10.0, 30.0],
                               lat=[48.3, 48.4], lon=[-121.0, -120.8])
    path = tmp_path / "forcing.nc"
    std.write_netcdf(ds, path)
    return path


def test_inherited_and_forcing_derived_values(subunit_forcing, tmp_path):
    a, m = build_subunit_attributes(subunit_forcing, CAMELS, "12451000",
                                ["p_mean", "aridity", "frac_snow", "area_gages2", "meanTa"],
                                tmp_path / "attrs.nc", tmp_path / "memb.nc")
    attrs = xr.open_dataset(a)
    np.testing.assert_allclose(attrs["p_mean"], [2.0, 3.0])
    np.testing.assert_allclose(attrs["aridity"], [1.0 / 2.0, 1.5 / 3.0])
    np.testing.assert_allclose(attrs["meanTa"], [1.0, 5.0])
    # camels_clim.txt / camels_topo.txt rows of 12451000
    np.testing.assert_allclose(attrs["frac_snow"], [0.716767081202258] * 2)
    np.testing.assert_allclose(attrs["area_gages2"], [830.6] * 2)
    np.testing.assert_allclose(attrs["uparea"], [830.6] * 2)
    np.testing.assert_allclose(attrs["meanelevation"], [1509.63] * 2)
    memb = xr.open_dataset(m)
    assert list(memb["gauge"].values) == ["12451000", "12451000"]
    assert list(memb["unit"].values) == ["SU01", "SU02"]
    np.testing.assert_allclose(memb["weight"], [1.0, 1.0])


def test_unknown_gauge_is_named(subunit_forcing, tmp_path):
    with pytest.raises(DhbvInputError, match="gauge 99999999 is not in the CAMELS"):
        build_subunit_attributes(subunit_forcing, CAMELS, "99999999", ["p_mean"],
                             tmp_path / "a.nc", tmp_path / "m.nc")
    assert not (tmp_path / "a.nc").exists()
