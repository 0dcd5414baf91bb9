"""USGS daily streamflow: cfs -> m3/s and NWIS qualification flags (dataretrieval mocked)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dhbv.errors import DhbvInputError
from dhbv.retrieval import CFS_TO_CMS, FLAG_MEANINGS, retrieve_usgs_streamflow


def fake_get_dv(calls):
    """Stand-in for dataretrieval.nwis.get_dv: NWIS JSON layout (datetime index, site_no, 00060_Mean[_cd])."""
    data = {
        "01013500": [("2020-01-01", 100.0, "A"), ("2020-01-02", 200.0, "P"), ("2020-01-03", 50.0, "A, e"),
                     ("2020-01-04", np.nan, "Ice"), ("2020-01-05", -999999.0, "Eqp")],  # 01-06 absent
        "12451000": [("2020-01-01", 1000.0, "A"), ("2020-01-06", 353.147, "P, e")],
    }

    def get_dv(sites, start, end, parameterCd, **kw):
        calls.append((sites, start, end, parameterCd))
        rows = data[sites]
        idx = pd.DatetimeIndex([pd.Timestamp(r[0], tz="UTC") for r in rows], name="datetime")
        df = pd.DataFrame({"site_no": sites, "00060_Mean": [r[1] for r in rows], "00060_Mean_cd": [r[2] for r in rows]},
                          index=idx)
        return df, object()

    return get_dv


def test_cfs_to_m3s_and_flags(tmp_path):
    calls = []
    out = retrieve_usgs_streamflow(["01013500", "12451000"], "2020-01-01", "2020-01-06", tmp_path / "q.nc",
                                   area_km2={"12451000": 830.6}, get_dv=fake_get_dv(calls))
    assert [c[3] for c in calls] == ["00060", "00060"] and calls[0][0] == "01013500"
    ds = xr.load_dataset(out)
    assert list(ds.gauge.values) == ["01013500", "12451000"] and ds.streamflow.attrs["units"] == "m3 s-1"
    q = ds.streamflow.sel(gauge="01013500").values
    np.testing.assert_allclose(q[:3], [2.83168, 5.66336, 1.41584], rtol=1e-6)  # 1 cfs = 0.0283168 m3/s
    assert np.isnan(q[3:]).all()
    flags = ds.streamflow_flag.sel(gauge="01013500").values.tolist()
    assert flags == [0, 1, 2, 3, 4, 5]  # approved, provisional, estimated, ice, missing, not reported
    assert ds.streamflow_flag.attrs["flag_meanings"].split() == list(FLAG_MEANINGS)
    q2 = ds.streamflow.sel(gauge="12451000").values
    assert q2[0] == pytest.approx(1000 * CFS_TO_CMS, rel=1e-6) and q2[5] == pytest.approx(10.0, rel=1e-5)
    assert ds.streamflow_flag.sel(gauge="12451000").values.tolist() == [0, 5, 5, 5, 5, 2]
    assert float(ds.area.sel(gauge="12451000")) == 830.6 and np.isnan(float(ds.area.sel(gauge="01013500")))


def test_drop_provisional_and_bad_site_ids(tmp_path):
    out = retrieve_usgs_streamflow(["01013500"], "2020-01-01", "2020-01-03", tmp_path / "q.nc",
                                   drop_provisional=True, get_dv=fake_get_dv([]))
    ds = xr.load_dataset(out)
    assert np.isnan(ds.streamflow.values[1, 0]) and ds.streamflow_flag.values[1, 0] == 1
    assert "removed" in ds.attrs["provisional_values"]
    with pytest.raises(DhbvInputError, match=r"8-15 digits .*'1013500'"):
        retrieve_usgs_streamflow(["1013500"], "2020-01-01", "2020-01-03", tmp_path / "x.nc", get_dv=fake_get_dv([]))

    def failing(**kw):
        raise RuntimeError("HTTP 503 service unavailable")

    with pytest.raises(DhbvInputError, match="site 01013500 .*HTTP 503"):
        retrieve_usgs_streamflow(["01013500"], "2020-01-01", "2020-01-03", tmp_path / "y.nc", get_dv=failing)
    assert not (tmp_path / "x.nc").exists() and not (tmp_path / "y.nc").exists()
