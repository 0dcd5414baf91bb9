"""Downloads against a local HTTP server (127.0.0.1 only), pre-staged copies, MERIT files, gridMET."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from dhbv.errors import DhbvInputError
from dhbv.retrieval import (
    copy_prestaged,
    copy_prestaged_folder,
    download,
    gridmet_forcing_variables,
    gridmet_ncss_url,
    merit_basins_files,
    retrieve_file,
    retrieve_gridmet,
    retrieve_merit_basins,
    retrieve_table,
    sha256_of,
)

DEMO = Path(__file__).resolve().parents[1] / "resources/demo/stehekin_12451000"
PAYLOAD = np.random.default_rng(7).integers(0, 256, size=300_000, dtype=np.uint8).tobytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    log: list = []
    flaky_done: set = set()

    def log_message(self, *args):  # silence
        pass

    def do_GET(self):  # noqa: N802
        path = self.path.split("?")[0]
        self.log.append((path, self.headers.get("Range")))
        name = path.rsplit("/", 1)[-1]
        if path.startswith("/ncss/"):  # gridMET-like NCSS endpoint: serve a fixture per variable
            name = path.split("agg_met_")[1].split("_1979")[0] + ".nc"
        if name not in self.files:
            self.send_error(404, "Not Found")
            return
        data = self.files[name]
        mode = "normal"
        if name.startswith("trunc"):
            mode = "always_truncate"
        elif name.startswith("flaky") and name not in self.flaky_done:
            mode = "truncate_once"
        rng = self.headers.get("Range")
        if rng and mode != "always_truncate":
            start = int(rng.split("=")[1].split("-")[0])
            body = data[start:]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            body = data
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if mode in ("always_truncate", "truncate_once"):
            self.wfile.write(body[: len(body) * 2 // 5])
            self.wfile.flush()
            self.flaky_done.add(name)
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    _Handler.files = {"ok.bin": PAYLOAD, "trunc.bin": PAYLOAD, "flaky.bin": PAYLOAD}
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", _Handler
    srv.shutdown()
    srv.server_close()


SHA = hashlib.sha256(PAYLOAD).hexdigest()
FAST = dict(retries=2, backoff=0.0, timeout=10)


def test_download_success_and_skip_when_verified(server, tmp_path):
    url, h = server
    dest = download(f"{url}/ok.bin", tmp_path / "sub" / "ok.bin", sha256=SHA, size=len(PAYLOAD), **FAST)
    assert dest.read_bytes() == PAYLOAD and not (tmp_path / "sub" / "ok.bin.part").exists()
    n = len(h.log)
    download(f"{url}/ok.bin", dest, sha256=SHA, **FAST)  # verified copy present: no request
    assert len(h.log) == n


def test_download_404_names_url(server, tmp_path):
    url, _ = server
    with pytest.raises(DhbvInputError, match=r"/nothing\.nc not found \(HTTP 404\)"):
        download(f"{url}/nothing.nc", tmp_path / "x.nc", **FAST)
    assert not list(tmp_path.iterdir())


def test_truncated_download_detected(server, tmp_path):
    url, _ = server
    with pytest.raises(DhbvInputError, match="truncated"):
        download(f"{url}/trunc.bin", tmp_path / "t.bin", **FAST)
    assert not (tmp_path / "t.bin").exists()  # never renamed into place


def test_checksum_mismatch_removes_file(server, tmp_path):
    url, _ = server
    with pytest.raises(DhbvInputError, match="sha256 .* differs"):
        download(f"{url}/ok.bin", tmp_path / "c.bin", sha256="0" * 64, **FAST)
    assert not (tmp_path / "c.bin").exists() and not (tmp_path / "c.bin.part").exists()
    with pytest.raises(DhbvInputError, match="size 300000 B differs from the expected 12 B"):
        download(f"{url}/ok.bin", tmp_path / "c.bin", size=12, **FAST)
    assert not list(tmp_path.iterdir())


def test_resume_after_interruption_uses_range(server, tmp_path):
    url, h = server
    h.log.clear()
    dest = download(f"{url}/flaky.bin", tmp_path / "f.bin", sha256=SHA, **FAST)
    assert sha256_of(dest) == SHA
    ranges = [r for p, r in h.log if p == "/flaky.bin"]
    assert ranges[0] is None and len(ranges) == 2
    offset = int(ranges[1].removeprefix("bytes=").rstrip("-"))  # resumed where the part file ended
    assert 0 < offset <= len(PAYLOAD) * 2 // 5


def test_prestaged_copy_verifies_checksums(tmp_path):
    sums = {ln.split()[1]: ln.split()[0] for ln in (DEMO / "SHA256SUMS").read_text().splitlines() if ln.strip()}
    name = "basin_12451000_hysets_epsg4326.geojson"
    out = copy_prestaged(DEMO / name, tmp_path / name, sha256=sums[name])
    assert out.read_bytes() == (DEMO / name).read_bytes()
    with pytest.raises(DhbvInputError, match=f"pre-staged file .*{name}: sha256"):
        copy_prestaged(DEMO / name, tmp_path / "y.geojson", sha256="f" * 64)
    assert not (tmp_path / "y.geojson").exists()
    got = copy_prestaged_folder(DEMO, tmp_path / "st", files=list(sums))
    assert [p.name for p in got] == list(sums)
    with pytest.raises(DhbvInputError, match="does not exist; put it there or switch data.source to online"):
        retrieve_file(tmp_path / "z.csv", source="prestaged", prestaged_path=tmp_path / "nope.csv")
    with pytest.raises(DhbvInputError, match="cannot obtain z.csv"):
        retrieve_file(tmp_path / "z.csv", source="online")


def test_merit_basins_local_online_and_manual(server, tmp_path):
    url, h = server
    names = merit_basins_files(74, kinds=("cat",))
    assert names[0] == "cat_pfaf_74_MERIT_Hydro_v07_Basins_v01_bugfix1.shp" and len(names) == 5
    local = tmp_path / "local"
    local.mkdir()
    for n in names:
        (local / n).write_bytes(n.encode())
    sums = {n: hashlib.sha256(n.encode()).hexdigest() for n in names}
    got = retrieve_merit_basins([74], tmp_path / "d1", local_dir=local, checksums=sums, kinds=("cat",))
    assert sorted(p.name for p in got) == sorted(names)
    with pytest.raises(DhbvInputError, match=r"manual download: get them from https://www\.reachhydro\.org"):
        retrieve_merit_basins([71], tmp_path / "d2", local_dir=local, kinds=("cat",))
    for n in merit_basins_files(72, kinds=("riv",)):
        h.files[n] = n.encode() * 10
    got = retrieve_merit_basins(["72"], tmp_path / "d3", source="online", base_url=f"{url}/merit/", kinds=("riv",), **FAST)
    assert got[0].read_bytes() == got[0].name.encode() * 10
    with pytest.raises(DhbvInputError, match="2-digit Pfafstetter"):
        merit_basins_files(7)
    # gauge -> COMID table from a URL or a local folder
    h.files["gauge_comid.csv"] = b"STAID,COMID\n01013500,73000001\n"
    t = retrieve_table(tmp_path / "t.csv", source="online", url=f"{url}/gauge_comid.csv", **FAST)
    assert pd.read_csv(t, dtype=str).STAID[0] == "01013500"
    t2 = retrieve_table(tmp_path / "t2.csv", source="prestaged", local_path=t)
    assert t2.read_bytes() == t.read_bytes()


def _gridmet_fixture(var, values, units):
    lat = np.array([48.6, 48.55, 48.5])  # gridMET: descending latitude, 1/24 deg
    lon = np.array([-121.0, -120.95, -120.9, -120.85])
    day = pd.date_range("2001-01-01", periods=4, freq="D")
    name = {"pr": "precipitation_amount", "tmmx": "air_temperature", "tmmn": "air_temperature"}[var]
    ds = xr.Dataset({name: (("day", "lat", "lon"), np.broadcast_to(values, (4, 3, 4)).astype("f4"), {"units": units})},
                    coords={"day": day, "lat": lat, "lon": lon})
    ds["lat"].attrs = {"standard_name": "latitude", "units": "degrees_north"}
    ds["lon"].attrs = {"standard_name": "longitude", "units": "degrees_east"}
    return ds.to_netcdf()


def test_gridmet_ncss_download_and_aggregate(server, tmp_path):
    import geopandas as gpd
    from shapely.geometry import box

    from dhbv.forcing import aggregate_forcing, build_coverage_weights

    url, h = server
    u = gridmet_ncss_url("pr", (-121.1, 48.2, -120.6, 48.6), "1980-01-01", "1980-12-31")
    assert u.startswith("http://thredds.northwestknowledge.net:8080/thredds/ncss/agg_met_pr_1979_CurrentYear_CONUS.nc?")
    for part in ("var=precipitation_amount", "north=48.6000", "west=-121.1000", "time_start=1980-01-01T00%3A00%3A00Z"):
        assert part in u
    h.files.update({"pr.nc": _gridmet_fixture("pr", 3.0, "mm"), "tmmx.nc": _gridmet_fixture("tmmx", 283.15, "K"),
                    "tmmn.nc": _gridmet_fixture("tmmn", 273.15, "K")})
    files = retrieve_gridmet((-121.0, 48.5, -120.9, 48.6), "2001-01-01", "2001-01-04", tmp_path,
                             base_url=f"{url}/ncss/agg_met_{{var}}_1979_CurrentYear_CONUS.nc", **FAST)
    assert sorted(files) == ["pr", "tmmn", "tmmx"]
    gpd.GeoDataFrame({"COMID": [1]}, geometry=[box(-120.99, 48.53, -120.88, 48.61)], crs=4326).to_file(tmp_path / "u.gpkg")
    build_coverage_weights(files["pr"], tmp_path / "u.gpkg", "COMID", tmp_path / "w.npz")
    aggregate_forcing(files["pr"], tmp_path / "w.npz", tmp_path / "u.gpkg", tmp_path / "f.nc",
                      variables=gridmet_forcing_variables(files), pet_method="hargreaves", chunk_days=2)
    f = xr.load_dataset(tmp_path / "f.nc")
    np.testing.assert_allclose(f.P.values, 3.0, rtol=1e-6)
    np.testing.assert_allclose(f.Tmax.values, 10.0, atol=1e-4)
    np.testing.assert_allclose(f["T"].values, 5.0, atol=1e-4)
