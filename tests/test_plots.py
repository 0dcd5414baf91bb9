"""Evaluation figures (dhbv.plots): each writes a PNG, and the numbers printed on it (shares,
bin counts, medians) equal values computed by hand for a six-gauge, two-model table."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dhbv import plots
from dhbv.plots import distributions, hydrographs, maps

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def table() -> pd.DataFrame:
    """Six gauges, models A and B; gauge 4 excluded for B."""
    gauges = [f"0000000{i}" for i in range(1, 7)]
    area = [500.0, 1000.0, 2000.0, 4000.0, 20000.0, 60000.0]
    lat = [40.0, 41.0, 42.0, 43.0, 44.0, 45.0]
    lon = [-100.0, -101.0, -102.0, -103.0, -104.0, -105.0]
    nse = {"A": [0.8, 0.2, -1.0, 0.6, 0.5, 0.9], "B": [0.7, 0.3, 0.1, np.nan, 0.4, 0.8]}
    rho = [0.9, 0.4, 0.6, 0.2, 0.7, 0.5]
    bias = [0.1, -1.5, 2.0, 0.3, -0.5, 1.0]
    rows = []
    for m in ("A", "B"):
        for i, g in enumerate(gauges):
            excluded = m == "B" and i == 3
            n = nse[m][i]
            rows.append({"gauge": g, "model": m, "area": area[i], "lat": lat[i], "lon": lon[i],
                         "nse": n, "kge": n - 0.1, "nnse": 1.0 / (2.0 - n),
                         "spearman_rho": np.nan if excluded else rho[i],
                         "bias_rel": np.nan if excluded else bias[i], "excluded": excluded})
    return pd.DataFrame(rows)


@pytest.fixture
def printed(monkeypatch):
    """Every text drawn on the figures saved during the test (titles, labels, annotations)."""
    texts: list[str] = []

    def capture(fig, out):
        fig.canvas.draw()
        texts.extend(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")))
        return real(fig, out)

    real = distributions.save_png
    from dhbv.plots import unit_maps

    for module in (distributions, maps, hydrographs, unit_maps):
        monkeypatch.setattr(module, "save_png", capture)
    return texts


def is_png(path) -> bool:
    data = path.read_bytes()
    return len(data) > 1000 and data.startswith(PNG_MAGIC)


def test_nnse_histogram_share_and_counts(table, tmp_path, printed):
    out = plots.nnse_histogram(table, tmp_path / "nnse.png")
    assert is_png(tmp_path / "nnse.png")
    # A: NNSE 0.833, 0.556, 0.333, 0.714, 0.667, 0.909 -> 4 of 6 at least 0.6
    assert out["share_at_least"]["A"] == pytest.approx(4 / 6)
    assert out["counts"]["A"] == [0, 1, 1, 2, 2]
    # B (gauge 4 excluded): 0.769, 0.588, 0.526, 0.625, 0.833 -> 3 of 5
    assert out["share_at_least"]["B"] == pytest.approx(3 / 5)
    assert out["counts"]["B"] == [0, 0, 2, 2, 1] and out["n"] == {"A": 6, "B": 5}
    assert "NNSE ≥ 0.6: 66.7 % of 6" in printed and "NNSE ≥ 0.6: 60.0 % of 5" in printed


def test_spearman_bias_quadrant_shares(table, tmp_path, printed):
    out = plots.spearman_bias_quadrants(table, tmp_path / "q.png")
    assert is_png(tmp_path / "q.png")
    # rho >= 0.5 and |bias| <= 1: gauges 1, 5, 6 (6 sits on both splits); 3 high bias;
    # 4 low rho, low bias; 2 low rho, high bias
    assert out["shares"]["A"] == pytest.approx({"high_rho_low_bias": 3 / 6,
                                                "high_rho_high_bias": 1 / 6,
                                                "low_rho_low_bias": 1 / 6,
                                                "low_rho_high_bias": 1 / 6})
    # B lacks gauge 4 (the only low-rho, low-bias gauge)
    assert out["shares"]["B"]["low_rho_low_bias"] == 0.0
    assert out["shares"]["B"]["high_rho_low_bias"] == pytest.approx(3 / 5)
    assert {"50.0 %", "16.7 %", "60.0 %", "20.0 %", "0.0 %"} <= set(printed)


def test_nse_box_plots_by_area_bin(table, tmp_path, printed):
    out = plots.nse_by_area(table, tmp_path / "box.png")
    assert is_png(tmp_path / "box.png")
    assert out["labels"] == ["0–1k", "1k–3k", "3k–5k", "5k–10k", "10k–50k"]
    # areas 500 and 1000 (upper bound included) in 0–1k, 2000, 4000, 20000; 60000 outside
    assert out["counts"]["A"] == [2, 1, 1, 0, 1] and out["outside"]["A"] == 1
    assert out["counts"]["B"] == [2, 1, 0, 0, 1]
    assert out["median"]["A"][0] == pytest.approx(0.5) and np.isnan(out["median"]["A"][3])
    assert "0–1k km²\nn=2" in printed and "5k–10k km²\nn=0" in printed


def test_area_bins_edges():
    idx = plots.area_bin_index([0.0, 1000.0, 1000.1, 50000.0, 50000.1, np.nan])
    assert idx.tolist() == [0, 0, 1, 4, -1, -1]


def test_metric_cdf_medians(table, tmp_path):
    out = plots.metric_cdf(table, tmp_path / "cdf.png")
    assert is_png(tmp_path / "cdf.png")
    assert out["median"]["nse"]["A"] == pytest.approx(0.55)   # (0.5 + 0.6) / 2
    assert out["median"]["nse"]["B"] == pytest.approx(0.4)
    assert out["median"]["kge"]["A"] == pytest.approx(0.45)
    assert out["n"]["nse"] == {"A": 6, "B": 5}


def test_nse_maps_and_delta(table, tmp_path, printed):
    out = plots.metric_map(table, tmp_path / "map.png")
    assert is_png(tmp_path / "map.png")
    assert out["shown"] == {"A": 6, "B": 5} and out["left_out"] == {"A": 0, "B": 0}
    d = plots.delta_nse_map(table, tmp_path / "dnse.png", reference="A", candidate="B")
    assert is_png(tmp_path / "dnse.png")
    # B - A: -0.1, +0.1, +1.1, (excluded), -0.1, -0.1
    assert d["n"] == 5 and d["share_better"] == pytest.approx(2 / 5)
    assert d["median_delta"] == pytest.approx(-0.1)
    assert any("B better at 40.0 % of 5 gauges" in t for t in printed)


def test_delta_map_names_an_unknown_model(table, tmp_path):
    from dhbv.errors import DhbvInputError

    with pytest.raises(DhbvInputError, match="model 'C' not in the table"):
        plots.delta_nse_map(table, tmp_path / "x.png", reference="A", candidate="C")
    assert not (tmp_path / "x.png").exists()


def test_hydrographs_zoom_on_the_largest_event(tmp_path, printed):
    time = pd.date_range("2000-01-01", periods=100)
    obs = np.ones(100)
    obs[50] = 10.0
    obs[10] = np.nan
    sim = {"A": {"g": obs * 0.9}, "B": {"g": np.full(100, 2.0)}}
    info = plots.hydrograph_panels(time, {"g": obs}, sim, tmp_path / "h.png")
    assert is_png(tmp_path / "h.png")
    assert info["g"]["peak_date"] == "2000-02-20" and info["g"]["peak_observed"] == 10.0
    assert info["g"]["window"] == ("2000-01-31", "2000-03-31")   # 20 days before, 40 after
    assert plots.largest_event_window(obs, 5, 60) == (45, 100)
    assert "largest event, peak 2000-02-20" in printed


def test_unit_maps_average_every_day_and_skip_units_without_polygons(tmp_path, printed):
    import geopandas as gpd
    import xarray as xr
    from shapely.geometry import box

    from dhbv.plots.unit_maps import unit_means, unit_polygon_maps

    stores = []
    for k, (days, aet) in enumerate([(2, [1.0, 2.0, 3.0]), (3, [6.0, 2.0, 8.0])]):
        ds = xr.Dataset({"aet": (("unit", "time"), np.repeat(np.array(aet)[:, None], days, 1),
                                 {"units": "mm d-1"})},
                        coords={"unit": ["U1", "U2", "U3"],
                                "time": pd.date_range(f"200{k}-01-01", periods=days)})
        ds.to_zarr(tmp_path / f"c{k}.zarr", consolidated=False)
        stores.append(tmp_path / f"c{k}.zarr")
    means, units = unit_means(stores, ["aet"])
    # (2·1 + 3·6) / 5 = 4, (2·2 + 3·2) / 5 = 2, (2·3 + 3·8) / 5 = 6
    np.testing.assert_allclose(means["aet"], [4.0, 2.0, 6.0])
    assert units == {"aet": "mm d-1"}
    shapes = gpd.GeoDataFrame({"unit": ["U1", "U2"]},
                              geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:4326")
    out = unit_polygon_maps(shapes, means, tmp_path / "u.png", units)
    assert is_png(tmp_path / "u.png")
    assert out["aet"] == {"min": 2.0, "mean": 3.0, "max": 4.0, "units": "mm d-1"}
    assert "aet: mean 3 mm d-1" in printed


def test_parameter_maps_match_the_learned_parameters(tmp_path, printed):
    """The per-unit parameters of the maps (read through the domain-simulation inputs) equal
    dhbv.parameters.learned_parameters (read through the gauge dataset) averaged over the
    parallel components, the members and, for the dynamic ones, the days."""
    import copy

    import geopandas as gpd
    from shapely.geometry import box

    from dhbv.datasets import dataset_of, load_dataset, write_standard
    from dhbv.parameters import learned_parameters
    from dhbv.plots.rules import plot_parameter_maps
    from dhbv.plots.unit_maps import PARAMETER_UNITS, unit_parameter_means
    from dhbv.training import train
    from test_training_resume import tiny_config

    cfg = tiny_config(epochs=1, iterations_per_epoch=1, validation_period=None,
                      checkpoint_every_steps=None, ensemble=2)
    train(copy.deepcopy(cfg), tmp_path / "run")
    data = load_dataset(dataset_of(cfg), cfg["model"]["attributes"])
    forms = write_standard(data, tmp_path / "std")
    period = ["1995-10-01", "1995-12-31"]
    ref = learned_parameters(tmp_path / "run", period=period)
    means, units = unit_parameter_means(tmp_path / "run", forms["forcing"], forms["attributes"],
                                        period, spinup_days=0)
    assert list(means.columns) == list(PARAMETER_UNITS) and units["FC"] == "mm"
    assert list(means.index) == ref["unit_ids"]
    for name in ("FC", "K2", "TT", "AC"):                       # [member, U, nmul]
        np.testing.assert_allclose(means[name], ref[name].mean(axis=(0, 2)), rtol=1e-5)
    for name in ("BETA", "K0"):                                  # [member, T, U, nmul]
        assert ref[name].shape[1] == 92
        np.testing.assert_allclose(means[name], ref[name].mean(axis=(0, 1, 3)), rtol=1e-5)
    np.testing.assert_allclose(means["route_b"], ref["route_b"].mean(axis=0), rtol=1e-5)
    lo, hi = 50.0, 1000.0                                        # FC range
    assert ((means["FC"] > lo) & (means["FC"] < hi)).all()
    shapes = gpd.GeoDataFrame({"basin": list(means.index)},
                              geometry=[box(k, 0, k + 1, 1) for k in range(len(means))],
                              crs="EPSG:4326")
    shapes.to_file(tmp_path / "units.geojson")
    out = plot_parameter_maps(tmp_path / "run", forms["forcing"], forms["attributes"],
                              tmp_path / "units.geojson", "basin", tmp_path / "p.png",
                              tmp_path / "p.json", period=period, spinup_days=0)
    assert is_png(tmp_path / "p.png") and (tmp_path / "p.json").exists()
    assert out["parameters"]["FC"]["mean"] == pytest.approx(float(means["FC"].mean()))
    assert any(t.startswith("K0: mean") for t in printed)


def test_metric_cdf_draws_each_dataset_apart(table, tmp_path, printed):
    """With two datasets (say trained basins and unseen basins) every model gets one CDF per
    dataset; the pooled medians stay."""
    two = table.assign(dataset=np.where(table["gauge"] <= "00000003", "trained", "unseen"))
    out = plots.metric_cdf(two, tmp_path / "cdf2.png")
    assert out["median"]["nse"]["A"] == pytest.approx(0.55)
    by = out["by_dataset"]["nse"]
    assert by["trained"]["A"] == {"median": pytest.approx(0.2), "n": 3}      # 0.8, 0.2, -1.0
    assert by["unseen"]["A"] == {"median": pytest.approx(0.6), "n": 3}       # 0.6, 0.5, 0.9
    assert by["unseen"]["B"] == {"median": pytest.approx(0.6), "n": 2}       # 0.4, 0.8
    assert "B · unseen: median 0.60 (n=2)" in printed
