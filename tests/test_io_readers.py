"""Readers (Caravan, CAMELS-US text files), standard forms and input validation."""
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dhbv.errors import DhbvInputError
from dhbv.io import standard as std
from dhbv.io.camels import (CAMELS_ATTRIBUTE_MAP, NO_CAMELS_EQUIVALENT, PAPER_ATTRIBUTES,
                            read_attribute_tables, read_camels_forcing, read_camels_streamflow,
                            resolve_attribute)
from dhbv.io.caravan import build_caravan_standard, read_caravan_csv
from dhbv.datasets import load_dataset

DEMO = "resources/demo"
ATTR = f"{DEMO}/camels_us/attributes"
TS = f"{DEMO}/caravan_camels_us/timeseries"


def test_caravan_headerless_dates_and_na():
    df = read_caravan_csv(f"{TS}/01022500.csv")
    assert df.index[0] == pd.Timestamp("1981-01-01") and df.index[-1] == pd.Timestamp("2014-12-31")
    assert list(df.columns) == ["P", "T", "PET_source", "Q"]
    assert df.iloc[0].tolist() == [0.0, -16.5, 1.6, 1.27]
    assert df["Q"].isna().sum() > 0                       # "NA" → NaN, not filled


def test_caravan_dated_variant_stehekin():
    df = read_caravan_csv(f"{DEMO}/stehekin_12451000/streamflow_12451000_caravan_1981-2014.csv")
    assert df.index[0] == pd.Timestamp("1981-01-01")
    assert df.loc["1981-01-01", "Q"] == pytest.approx(7.36)


def test_camels_forcing_and_streamflow_units(tmp_path):
    f = tmp_path / "01013500_lump_cida_forcing_leap.txt"
    f.write_text("47.24\n250\n2252.7\nYear Mnth Day Hr\tdayl(s)\tprcp(mm/day)\tsrad(W/m2)\t"
                 "swe(mm)\ttmax(C)\ttmin(C)\tvp(Pa)\n"
                 "1980 01 01 12\t30172.51\t0.00\t153.40\t0.00\t-8.22\t-16.26\t171.88\n"
                 "1980 01 02 12\t30253.15\t2.50\t145.27\t0.00\t-3.00\t-10.00\t240.13\n")
    df, head = read_camels_forcing(f)
    assert head == {"lat": 47.24, "elev": 250.0}
    assert df.index[1] == pd.Timestamp("1980-01-02")
    assert df["P"].tolist() == [0.0, 2.5] and df["T"].iloc[1] == pytest.approx(-6.5)
    q = tmp_path / "01013500_streamflow_qc.txt"
    q.write_text("01013500 1980 01 01   655.00 A\n01013500 1980 01 02  -999.00 M\n"
                 "01013500 1980 01 03   100.00 A:e\n")
    cfs = read_camels_streamflow(q)
    assert np.isnan(cfs.iloc[1]) and cfs.iloc[0] == 655.0
    mm = read_camels_streamflow(q, area_km2=2252.7)
    assert mm.iloc[0] == pytest.approx(655.0 * 0.0283168 * 86.4 / 2252.7)
    assert mm.attrs["units"] == "mm d-1"
    with pytest.raises(DhbvInputError, match="not positive"):
        read_camels_streamflow(q, area_km2=0.0)


def test_camels_attribute_mapping():
    table = read_attribute_tables(ATTR)
    assert len(table) == 671 and "q_mean" not in table.columns        # camels_hydro excluded
    v, unit = resolve_attribute("meanP", table, ["01022500"])
    assert unit == "mm yr-1" and v[0] == pytest.approx(table.at["01022500", "p_mean"] * 365.25)
    v, _ = resolve_attribute("uparea", table, ["01022500"])
    assert v[0] == pytest.approx(573.6)
    mapped = set(CAMELS_ATTRIBUTE_MAP) | {"meanTa", "ETPOT_Hargr"}
    assert mapped | set(NO_CAMELS_EQUIVALENT) == set(PAPER_ATTRIBUTES)
    with pytest.raises(DhbvInputError, match="HWSD_clay has no CAMELS-US equivalent"):
        resolve_attribute("HWSD_clay", table, ["01022500"])
    with pytest.raises(DhbvInputError, match="basin 99999999"):
        resolve_attribute("aridity", table, ["99999999"])


def test_caravan_standard_forms_roundtrip(tmp_path):
    table = read_attribute_tables(ATTR)
    forcing, obs = build_caravan_standard(TS, ["01022500", "01057000"], table, pet_method="oudin")
    assert forcing.attrs["pet_method"] == "oudin"
    assert forcing["PET"].attrs["units"] == "mm d-1" and forcing["area"].values[0] == 573.6
    assert float(forcing["PET"].min()) >= 0.0
    std.write_netcdf(forcing, tmp_path / "f.nc")
    std.write_netcdf(obs, tmp_path / "o.nc")
    f2 = std.read_unit_forcing(tmp_path / "f.nc")
    o2 = std.read_gauge_observations(tmp_path / "o.nc")
    assert list(f2["unit"].values) == ["01022500", "01057000"]
    np.testing.assert_allclose(f2["P"].values, forcing["P"].values)
    assert o2["streamflow"].attrs["units"] == "mm d-1"
    assert not list(tmp_path.glob(".*tmp"))                           # atomic write cleaned up


def test_m3s_observations_converted():
    o = std.make_gauge_observations(pd.date_range("2000-01-01", periods=2), ["g"],
                                    [[1.0], [2.0]], units="m3 s-1", area=[86.4])
    np.testing.assert_allclose(std.observations_mm_per_day(o).values[:, 0], [1.0, 2.0])
    with pytest.raises(DhbvInputError, match="units"):
        std.make_gauge_observations(pd.date_range("2000-01-01", periods=1), ["g"], [[1.0]],
                                    units="cfs", area=[1.0])


def _standard_source(tmp_path, q=None, membership=None, attrs_extra=None, drop=None,
                     short_u1=False):
    t = pd.date_range("2000-01-01", periods=40)
    P = np.ones((40, 2))
    if short_u1:
        P[30:, 0] = np.nan
    f = std.make_unit_forcing(t, ["u1", "u2"], P, P * 5, P, area=[10.0, 20.0], lat=[45, 45],
                              lon=[-100, -100])
    tab = {"uparea": np.array([10.0, 30.0]), "meanelevation": np.array([100.0, 200.0]),
           "aridity": np.array([1.0, 2.0])}
    tab.update(attrs_extra or {})
    for d in drop or []:
        tab.pop(d)
    a = std.make_unit_attributes(["u1", "u2"], tab)
    o = std.make_gauge_observations(t, ["G"], np.ones((40, 1)) if q is None else q,
                                    units="mm d-1", area=[30.0])
    m = membership if membership is not None else std.make_membership(["G", "G"], ["u1", "u2"])
    paths = {}
    for k, ds in dict(forcing=f, attributes=a, observations=o, membership=m).items():
        paths[k] = str(std.write_netcdf(ds, tmp_path / f"{k}.nc"))
    return {"sources": [dict(type="standard", **paths)]}


def test_standard_source_multiscale(tmp_path):
    d = load_dataset(_standard_source(tmp_path), ["aridity"])
    assert d.gauge_ids == ["G"] and d.unit_ids == ["u1", "u2"]
    assert d.membership.pairs[0][0].tolist() == [0, 1]
    np.testing.assert_allclose(d.uparea, [10.0, 30.0])


def test_bad_inputs_give_one_line_errors(tmp_path):
    with pytest.raises(DhbvInputError, match="attribute 'slope' is missing") as e:
        load_dataset(_standard_source(tmp_path), ["aridity", "slope"])
    assert "\n" not in str(e.value)
    with pytest.raises(DhbvInputError, match="gauge G: all observations are NaN"):
        load_dataset(_standard_source(tmp_path, q=np.full((40, 1), np.nan)), ["aridity"])
    with pytest.raises(DhbvInputError, match="gauge G has no upstream units"):
        load_dataset(_standard_source(tmp_path, membership=std.make_membership(["X"], ["u1"])),
                  ["aridity"])
    with pytest.raises(DhbvInputError, match="'meanelevation'"):
        load_dataset(_standard_source(tmp_path, drop=["meanelevation"]), ["aridity"])
    d = load_dataset(_standard_source(tmp_path, short_u1=True), ["aridity"])
    with pytest.raises(DhbvInputError, match="unit u1: forcing covers 2000-01-01..2000-01-30"):
        d.check_period("2000-01-10", "2000-02-05", "training")
    with pytest.raises(DhbvInputError, match="outside the data record"):
        d.time_index("1999-01-01")


def test_caravan_mismatched_dates(tmp_path):
    a = pd.read_csv(f"{TS}/01022500.csv", header=None)
    a.to_csv(tmp_path / "01022500.csv", header=False, index=False)
    a.iloc[:100].to_csv(tmp_path / "01057000.csv", header=False, index=False)
    with pytest.raises(DhbvInputError, match="Caravan basin 01057000: dates"):
        build_caravan_standard(tmp_path, ["01022500", "01057000"], read_attribute_tables(ATTR))
