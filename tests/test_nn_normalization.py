"""z-score normalisation with stored statistics (docs/model.md#normalisation)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from dhbv.errors import DhbvInputError
from dhbv.nn.normalization import (
    compute_statistics,
    interpolate_nan_time,
    load_statistics,
    normalize,
    normalize_attributes,
    normalize_forcing,
    require_statistics,
    save_statistics,
)

PUBLISHED = (
    Path(__file__).resolve().parents[1]
    / "resources/demo/nextgen_juniata/dhbv2_merit_normalization_statistics.json"
)


@pytest.fixture(scope="module")
def published():
    if not PUBLISHED.exists():
        pytest.skip("published statistics file not in resources/demo")
    return load_statistics(PUBLISHED)


def test_published_file_contents(published):
    assert len(published) == 31
    assert published["P"][2] == pytest.approx(2.477, abs=5e-4)
    assert published["P"][3] == pytest.approx(6.460, abs=5e-4)
    assert all(len(v) == 4 for v in published.values())
    for name in ("aridity", "uparea", "meanelevation", "Porosity", "Temp", "PET"):
        assert name in published


def test_published_hand_values(published):
    # (10 − 2.476902409878606)/6.460463216121756 = 1.1644826908615
    # (0 − 9.986363619001066)/10.734350048241083 = −0.9303184239494
    # (25 − 9.986363619001066)/10.734350048241083 = 1.3986535107879
    forcing = np.array(
        [[[10.0, 0.0, np.nan]], [[2.476902409878606, 25.0, np.nan]]]
    )  # [T=2, B=1, 3]
    z = normalize(forcing.astype(np.float32), ["P", "Temp", "PET"], published)
    assert z.dtype == np.float32
    assert normalize(forcing, ["P", "Temp", "PET"], published).dtype == np.float64
    assert z[0, 0, 0] == pytest.approx(1.1644826908615, abs=1e-6)
    assert z[0, 0, 1] == pytest.approx(-0.9303184239494, abs=1e-6)
    assert z[1, 0, 0] == pytest.approx(0.0, abs=1e-7)
    assert z[1, 0, 1] == pytest.approx(1.3986535107879, abs=1e-6)
    assert z[0, 0, 2] == 0.0 and z[1, 0, 2] == 0.0  # NaN → 0 after normalising
    # uparea is not log-transformed: (37 − 1176.1489090595521)/3640.8412835843424 = −0.3128806834277
    za = normalize_attributes(np.array([[37.0]]), ["uparea"], published)
    assert za[0, 0] == pytest.approx(-0.3128806834277, abs=1e-6)
    # torch path, float64 preserved
    zt = normalize(torch.tensor([[10.0]], dtype=torch.float64), ["P"], published)
    assert zt.dtype == torch.float64 and zt.item() == pytest.approx(1.1644826908615, abs=1e-12)


def test_missing_keys_named(published):
    with pytest.raises(DhbvInputError, match="lack 2 variable.*NDVI_2020, snow_depth"):
        normalize(np.zeros((3, 3)), ["P", "NDVI_2020", "snow_depth"], published)
    with pytest.raises(DhbvInputError, match="Tmax"):
        require_statistics(published, ["Tmax"])


def test_compute_statistics_hand_values():
    # values 1..10: p10 = 1.9, p90 = 9.1 (linear), mean 5.5, population std √8.25
    x = np.arange(1.0, 11.0).reshape(5, 2)
    x_nan = np.concatenate([x, np.full((1, 2), np.nan)])
    stats = compute_statistics({"P": x_nan, "flat": np.full(4, 3.0)})
    p10, p90, mean, std = stats["P"]
    assert p10 == pytest.approx(1.9) and p90 == pytest.approx(9.1)
    assert mean == pytest.approx(5.5) and std == pytest.approx(8.25**0.5)
    assert stats["flat"] == [3.0, 3.0, 3.0, 0.001]  # std floored at 0.001
    with pytest.raises(DhbvInputError, match="no finite values"):
        compute_statistics({"bad": np.full(3, np.nan)})


def test_compute_statistics_xarray():
    ds = xr.Dataset(
        {"P": (("time", "unit"), np.array([[0.0, 2.0], [4.0, 6.0]])), "area": ("unit", [1.0, 3.0])}
    )
    stats = compute_statistics(ds)
    assert set(stats) == {"P", "area"}
    assert stats["P"][2] == pytest.approx(3.0) and stats["P"][3] == pytest.approx(5.0**0.5)
    assert stats["area"][2:] == pytest.approx([2.0, 1.0])


def test_save_load_roundtrip(tmp_path):
    stats = {"P": [0.0, 8.5, 2.4769, 6.4605], "uparea": [31.0, 2485.5, 1176.1, 3640.8]}
    path = tmp_path / "stats.json"
    save_statistics(stats, path)
    assert json.loads(path.read_text()) == stats
    assert load_statistics(path) == stats
    (tmp_path / "bad.json").write_text(json.dumps({"P": [1.0, 2.0, 3.0]}))
    with pytest.raises(DhbvInputError, match="'P'"):
        load_statistics(tmp_path / "bad.json")
    (tmp_path / "zero.json").write_text(json.dumps({"P": [1.0, 2.0, 3.0, 0.0]}))
    with pytest.raises(DhbvInputError, match="std"):
        load_statistics(tmp_path / "zero.json")
    with pytest.raises(DhbvInputError, match="does not exist"):
        load_statistics(tmp_path / "none.json")


def test_interpolation_in_time_per_unit():
    x = np.array(
        [
            [np.nan, 1.0, np.nan],
            [2.0, np.nan, np.nan],
            [np.nan, np.nan, np.nan],
            [6.0, 7.0, np.nan],
            [np.nan, np.nan, np.nan],
        ]
    )  # [T=5, B=3]
    out = interpolate_nan_time(x, axis=0)
    np.testing.assert_allclose(out[:, 0], [2.0, 2.0, 4.0, 6.0, 6.0])  # edges: nearest value
    np.testing.assert_allclose(out[:, 1], [1.0, 3.0, 5.0, 7.0, 7.0])
    assert np.isnan(out[:, 2]).all()  # nothing to interpolate from
    assert np.isnan(x[0, 0])  # input untouched
    # time on another axis
    np.testing.assert_allclose(interpolate_nan_time(x.T, axis=1), out.T)


def test_normalize_forcing_interpolates_before_scaling():
    stats = {"P": [0.0, 0.0, 1.0, 2.0], "T": [0.0, 0.0, 0.0, 1.0], "PET": [0.0, 0.0, 0.0, 1.0]}
    f = np.zeros((3, 1, 3))
    f[:, 0, 0] = [1.0, np.nan, 5.0]  # interpolated to 3 → (3 − 1)/2 = 1
    f[:, 0, 1] = np.nan  # all NaN → 0
    z = normalize_forcing(f, ["P", "T", "PET"], stats)
    np.testing.assert_allclose(z[:, 0, 0], [0.0, 1.0, 2.0])
    np.testing.assert_allclose(z[:, 0, 1], [0.0, 0.0, 0.0])
    with pytest.raises(DhbvInputError, match=r"\[T, B, n_var\]"):
        normalize_forcing(np.zeros((3, 3)), ["P", "T", "PET"], stats)
