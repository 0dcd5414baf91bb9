"""Network files: NetCDF layout and round trip, DDR zarr export/read, atomic writes."""

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zarr

from dhbv.errors import DhbvInputError, NetworkTopologyError
from dhbv.network import (
    build_topology,
    build_network,
    export_ddr_zarr,
    read_network,
    write_network,
)

ROOT = Path(__file__).resolve().parents[1]
BOW = ROOT / "resources" / "demo" / "merit_bow_at_banff"
BOW_RIV = BOW / "river_network" / "bow_river_network_from_merit_hydro.shp"
BOW_CAT = BOW / "river_basins" / "bow_distributed.shp"
JUN = ROOT / "resources" / "demo" / "juniata_merit"

ARRAYS = ("comid", "downstream", "level", "indices_0", "indices_1", "indptr", "indices",
          "next_down", "length_m", "slope_raw", "slope", "uparea", "unitarea", "strahler")


def test_build_topology_writes_the_documented_netcdf(tmp_path):
    out = tmp_path / "net" / "bow.nc"
    s = build_topology(BOW_RIV, BOW_CAT, out_path=out)
    assert (s.n_reaches, s.n_edges, s.n_outlets, s.n_headwaters) == (51, 50, 1, 26)
    assert s.outlets == [71028585] and s.external_outlets == {71028585: 71028189}
    assert s.outlet_uparea_km2 == pytest.approx(2216.04, abs=0.01)
    assert list(tmp_path.joinpath("net").iterdir()) == [out]  # no temporary left behind
    with xr.open_dataset(out) as ds:
        for v in ("order", "indices_0", "indices_1", "indptr", "indices", "length_m", "slope",
                  "slope_raw", "uparea", "unitarea", "strahler", "level", "is_outlet",
                  "downstream", "outlet_comid"):
            assert v in ds, v
        assert ds["order"].dtype == np.int64
        assert ds["indices_0"].dtype == np.int32 and ds["indices_1"].dtype == np.int32
        assert ds["uparea"].attrs["units"] == "km2" and ds["length_m"].attrs["units"] == "m"
        assert ds.attrs["format"] == "COO" and ds.attrs["geodataset"] == "merit"
        assert list(ds.attrs["shape"]) == [51, 51]
        assert ds.attrs["n_outlets"] == 1 and list(np.atleast_1d(ds.attrs["outlets"])) == [71028585]
        assert int(ds["is_outlet"].sum()) == 1 and int(ds["downstream"][-1]) == -1
        assert ds.sizes["edge"] == 50 and ds.sizes["reach_ptr"] == 52


def test_netcdf_round_trip(tmp_path):
    net = build_network(BOW_RIV, BOW_CAT)
    back = read_network(write_network(net, tmp_path / "bow.nc"))
    for a in ARRAYS:
        assert np.array_equal(getattr(back, a), getattr(net, a)), a
    assert back.min_slope == net.min_slope and back.notes == net.notes


def test_ddr_zarr_round_trip_and_layout(tmp_path):
    net = build_network(JUN / "juniata_reaches.csv")
    path = export_ddr_zarr(net, tmp_path / "jun.zarr")
    g = zarr.open_group(str(path), mode="r")
    assert dict(g.attrs) == {"format": "COO", "shape": [213, 213], "geodataset": "merit"}
    assert g["order"].dtype == np.int32 and g["values"].dtype == np.uint8
    assert g["length_m"].dtype == np.float32 and g["slope"].dtype == np.float32
    assert g.metadata.zarr_format == 3
    back = read_network(path)
    for a in ("comid", "indices_0", "indices_1", "indptr", "level", "strahler", "downstream"):
        assert np.array_equal(getattr(back, a), getattr(net, a)), a
    assert np.array_equal(back.length_m, net.length_m.astype(np.float32))
    assert np.array_equal(back.slope_raw, net.slope_raw.astype(np.float32))
    assert np.all(np.isnan(back.uparea))  # not part of the DDR layout
    # exporting again replaces the store
    export_ddr_zarr(net, path)
    assert read_network(path).n == 213


def test_read_shipped_juniata_zarr():
    net = read_network(JUN / "juniata_conus_adjacency.zarr")
    assert net.n == 213 and net.n_edges == 212 and net.n_levels == 39
    assert net.outlets.tolist() == [73005278] and int(net.is_headwater.sum()) == 107
    assert net.comid[:3].tolist() == [73006286, 73006275, 73006455]  # stored order kept
    assert float(net.slope.min()) == pytest.approx(1e-3) and float(net.slope_raw.min()) == 0.0


def test_atomic_write_leaves_nothing_on_failure(tmp_path, monkeypatch):
    net = build_network(BOW_RIV, BOW_CAT)
    out = tmp_path / "bow.nc"

    def boom(self, path, **kw):
        Path(path).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", boom)
    with pytest.raises(OSError):
        write_network(net, out)
    assert list(tmp_path.iterdir()) == []


def test_failed_build_writes_no_output(tmp_path):
    with pytest.raises(DhbvInputError):
        build_topology(BOW_RIV, tmp_path / "missing.shp", out_path=tmp_path / "x.nc")
    assert not (tmp_path / "x.nc").exists()


def test_reader_errors(tmp_path):
    with pytest.raises(DhbvInputError, match=r"nope\.nc: network file not found"):
        read_network(tmp_path / "nope.nc")
    bad = tmp_path / "bad.nc"
    bad.write_text("garbage")
    with pytest.raises(DhbvInputError, match=r"bad\.nc: cannot read network NetCDF"):
        read_network(bad)
    g = zarr.open_group(str(tmp_path / "upper.zarr"), mode="w", zarr_format=3)
    g.attrs.update({"format": "COO", "shape": [2, 2]})
    g.create_array("order", data=np.array([5, 6], np.int32))
    g.create_array("indices_0", data=np.array([0], np.int32))
    g.create_array("indices_1", data=np.array([1], np.int32))
    with pytest.raises(NetworkTopologyError, match="not strictly lower triangular"):
        read_network(tmp_path / "upper.zarr")


def test_cycle_drop_is_reported_in_summary_and_file(tmp_path, caplog):
    from dhbv.io.merit import read_reach_table

    riv = read_reach_table(BOW_RIV)
    riv.loc[riv.COMID == 71030302, "NextDownID"] = 71030784  # 71030302 <-> 71030784
    cats = tmp_path / "cats.csv"
    import geopandas as gpd

    c = gpd.read_file(BOW_CAT)
    c.assign(unitarea=c["area"] / 1e6)[["COMID", "unitarea"]].to_csv(cats, index=False)
    with caplog.at_level("WARNING"):
        s = build_topology(riv, cats, out_path=tmp_path / "bow.nc", cycle_policy="drop")
    assert s.dropped_cycles == [[71030302, 71030784]]
    assert "71030302 -> 71030784" in caplog.text
    # 71030838 drained into the dropped 71030302 and is now a second outlet
    assert s.n_reaches == 49 and sorted(s.outlets) == [71028585, 71030838]
    with xr.open_dataset(tmp_path / "bow.nc") as ds:
        assert sorted(np.atleast_1d(ds.attrs["dropped_cycle_comids"]).tolist()) == [71030302, 71030784]
    back = read_network(tmp_path / "bow.nc")
    assert back.n_edges == back.n - 2

