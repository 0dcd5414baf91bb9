"""Per-unit CPU kernels (static maps, midpoint UH weights, UH routing with history) against the
torch formulas they replace, and their adjoints against finite differences."""

import math

import pytest
import torch

from dhbv.physics import HbvOptions, run_hbv2
from dhbv.physics.hbv2 import (
    PARAMETER_RANGES,
    STATIC_PARAMETERS,
    _core_static_torch,
    _uh_map_array,
    core_static_cpu,
    descale,
)
from dhbv.physics.synthetic import synthetic_case
from dhbv.physics.uh import gamma_uh_weights, midpoint_weights_cpu, uh_convolve, uh_route_no_grad

MAP_OPTIONS = [
    HbvOptions(),
    HbvOptions(elev_threshold="none", exchange="off"),
    HbvOptions(elev_threshold="smooth", exchange="bounded"),
    HbvOptions(exchange_form="smooth"),
]


def _static_case(dtype, n_b=200, nmul=3):
    g = torch.Generator().manual_seed(7)
    static = torch.rand(n_b, 13, nmul, generator=g, dtype=torch.float64).to(dtype)
    # areas on both sides of the 2500 km² switch and in its exponential tail; elevations
    # around the 2000 m switch and its smooth band
    uparea = torch.cat([torch.linspace(1.0, 4000.0, n_b - 2, dtype=torch.float64),
                        torch.tensor([2500.0, 3000.0], dtype=torch.float64)]).to(dtype)
    elev = torch.linspace(1800.0, 2200.0, n_b, dtype=torch.float64).to(dtype)
    return static, elev, uparea


@pytest.mark.parametrize("options", MAP_OPTIONS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_static_maps_equal_the_torch_formulas(options, dtype):
    """Bit-identical to descale/effective_tt/nominal_exchange except the transcendental tanh
    and exp of the exchange (one ulp of the value: an exact exp/tanh differs by ≤ 0.5 ulp
    from each)."""
    static, elev, uparea = _static_case(dtype)
    ours = core_static_cpu(static, elev, uparea, options)
    ref, _ = _core_static_torch(static, elev, uparea, options)
    assert ours.shape == ref.shape == (200, 3, 12)
    torch.testing.assert_close(ours[..., :11], ref[..., :11], rtol=0, atol=0)
    eps = torch.finfo(dtype).eps
    lf_scale = PARAMETER_RANGES["RT"][1]
    assert float((ours[..., 11] - ref[..., 11]).abs().max()) <= 2 * eps * lf_scale
    # hand values: FC of σ = 0.5 is 525 mm; TT_eff above 2000 m in the paper mode is 4 °C
    one = torch.full((1, 13, 1), 0.5, dtype=dtype)
    hi = core_static_cpu(one, torch.tensor([2500.0], dtype=dtype),
                         torch.tensor([100.0], dtype=dtype), HbvOptions())
    assert float(hi[0, 0, 0]) == 525.0
    assert float(hi[0, 0, 6]) == 4.0
    # Ac = 100 km², AC = 1250 km²: LF = RT·clamp(−1.15, −1, 1) = −10 mm/d
    assert float(hi[0, 0, 11]) == -10.0


@pytest.mark.parametrize("options", MAP_OPTIONS)
def test_static_maps_gradient(options):
    static, elev, uparea = _static_case(torch.float64, n_b=12, nmul=2)
    static = static.clamp(0.01, 0.99).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: core_static_cpu(s, elev, uparea, options),
                                    (static,), eps=1e-7, atol=1e-6, rtol=1e-5)
    assert len(STATIC_PARAMETERS) == static.shape[1]


def test_midpoint_weights_match_torch_formula_and_gradient():
    g = torch.Generator().manual_seed(3)
    sig = torch.rand(50, 2, generator=g, dtype=torch.float64)
    sig[0] = 0.0  # route_a = route_b = 0: shape 0.1, scale 0.5 d (the relu corner)
    w = midpoint_weights_cpu(sig, _uh_map_array(torch.float64), 15)
    ref = gamma_uh_weights(descale(sig[:, 0], "route_a"), descale(sig[:, 1], "route_b"), 15)
    torch.testing.assert_close(w, ref, rtol=1e-13, atol=1e-15)
    # shape 1 (route_a 0.9): exponential weights exp(−t/θ), θ = 3 d (route_b 2.5)
    one = torch.tensor([[0.9 / 2.9, 2.5 / 6.5]], dtype=torch.float64)
    w1 = midpoint_weights_cpu(one, _uh_map_array(torch.float64), 15)[0]
    expected = torch.tensor([math.exp(-(k + 0.5) / 3.0) for k in range(15)], dtype=torch.float64)
    torch.testing.assert_close(w1, expected / expected.sum(), rtol=1e-13, atol=1e-16)
    # float32 rounds the float64 weights once
    w32 = midpoint_weights_cpu(sig.float(), _uh_map_array(torch.float32), 15)
    assert float((w32.double() - w).abs().max()) <= 1e-7
    s = sig[1:7].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: midpoint_weights_cpu(x, _uh_map_array(torch.float64), 40), (s,))


@pytest.mark.parametrize("n_t", [3, 14, 60])
def test_uh_route_with_history_is_the_convolution_of_the_extended_series(n_t):
    g = torch.Generator().manual_seed(n_t)
    q = torch.rand(n_t, 9, generator=g)
    w = torch.rand(9, 15, generator=g)
    w = w / w.sum(1, keepdim=True)
    hist = torch.rand(14, 9, 3, generator=g)
    torch.testing.assert_close(uh_route_no_grad(q, w), uh_convolve(q, w), rtol=0, atol=0)
    for comp in (-1, 0, 2):
        h = hist.sum(-1) if comp < 0 else hist[..., comp]
        expected = uh_convolve(torch.cat([h, q]), w)[14:]
        torch.testing.assert_close(uh_route_no_grad(q, w, hist, comp), expected, rtol=0, atol=0)


@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("n_t", [9, 50])  # 9 < L − 1: the final UH history reaches into hist
def test_no_grad_path_equals_grad_path_with_history(full, n_t):
    """The inference path (one compiled call) gives exactly the autograd path's values,
    with carried states and UH history and a warm-up."""
    f, d, s, r, u, e = synthetic_case(n_t, 21, 4, seed=9)
    g = torch.Generator().manual_seed(1)
    hist = torch.rand(14, 21, 3, generator=g)
    s0 = 20.0 * torch.rand(5, 21, 4, generator=g)
    kw = dict(warmup=3, initial_states=s0, initial_uh_history=hist, full_output=full)
    with torch.no_grad():
        free = run_hbv2(f, d, s, r, u, e, **kw)
    kept = run_hbv2(f, d.clone().requires_grad_(True), s.clone().requires_grad_(True),
                    r.clone().requires_grad_(True), u, e, **kw)
    assert kept.keys() == free.keys()
    for key, v in free.items():
        torch.testing.assert_close(kept[key].detach(), v, rtol=0, atol=0, msg=key)
