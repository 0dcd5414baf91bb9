"""Fused numba kernels (forward + adjoint) against the plain-torch reference (docs/model.md#implementation)."""

import pytest
import torch

from dhbv.physics import HbvOptions, run_hbv2
from dhbv.physics.autograd import run_fused
from dhbv.physics.synthetic import synthetic_case

OPTION_SETS = [
    HbvOptions(),
    HbvOptions(exchange="bounded", elev_threshold="none", exchange_form="smooth"),
    HbvOptions(exchange="off", elev_threshold="smooth", uh_weights="integrated", uh_length=20),
]


def _run_both(case, options, full, warmup=5, dtype=torch.float64):
    results = {}
    for backend in ("reference", "fused"):
        f, d, s, r, u, e = [x.to(dtype) if x.is_floating_point() else x for x in case]
        d, s, r = (x.clone().requires_grad_(True) for x in (d, s, r))
        opts = HbvOptions(**{**options.__dict__, "backend": backend})
        out = run_hbv2(f, d, s, r, u, e, warmup=warmup, options=opts, full_output=full)
        w = torch.linspace(0.5, 1.5, out["streamflow"].shape[0], dtype=dtype)[:, None]
        loss = ((out["streamflow"] - 1.0) ** 2 * w).mean() + 0.3 * out["AET"].mean()
        loss = loss + 0.01 * out["final_states"].sum()
        if full:
            for k in ("SM", "SLZ", "recharge", "capillary", "LF", "clamp_water", "SNOWPACK",
                      "evapfactor", "Q0", "percolation", "excess", "tosoil", "SUZ",
                      "MELTWATER"):
                loss = loss + 0.01 * (out[k] * w).mean()
        loss.backward()
        results[backend] = (out, d.grad, s.grad, r.grad)
    return results


@pytest.mark.parametrize("options", OPTION_SETS)
@pytest.mark.parametrize("full", [False, True])
def test_fused_equals_reference_float64(options, full):
    res = _run_both(synthetic_case(120, 6, 3, seed=3), options, full)
    (o1, *g1), (o2, *g2) = res["reference"], res["fused"]
    for key, v in o1.items():
        torch.testing.assert_close(o2[key], v, rtol=1e-10, atol=1e-12, msg=key)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12)


def test_gradcheck_fused_core():
    f, d, s, r, u, e = synthetic_case(12, 2, 2, seed=5, dtype=torch.float64)
    from dhbv.physics.hbv2 import descale
    from dhbv.physics.reference import CORE_STATIC

    dyn = torch.stack([descale(d[:, :, i, :], n) for i, n in enumerate(("BETA", "K0", "BETAET"))],
                      -1).requires_grad_(True)
    lo = torch.tensor([50, 0.01, 0.001, 0.2, 0, 0, -2.5, 0.5, 0, 0, 0, -5.0], dtype=torch.float64)
    hi = torch.tensor([1000, 0.5, 0.2, 1, 10, 100, 2.5, 10, 0.1, 0.2, 1, 5.0], dtype=torch.float64)
    assert len(lo) == len(CORE_STATIC)
    gen = torch.Generator().manual_seed(1)
    sta = (lo + torch.rand(2, 2, 12, dtype=torch.float64, generator=gen)
           * (hi - lo)).requires_grad_(True)
    s0 = torch.tensor([5.0, 0.5, 60.0, 15.0, 8.0], dtype=torch.float64)[:, None, None]
    s0 = s0.expand(5, 2, 2).clone().requires_grad_(True)
    p, tc, pet = f[..., 0], f[..., 1], f[..., 2]
    for bounded in (False, True):
        fn = lambda dy, st, s: run_fused(p, tc, pet, dy, st, s, bounded)  # noqa: E731
        assert torch.autograd.gradcheck(fn, (dyn, sta, s0), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_float32_730_days_agrees_with_reference():
    res = _run_both(synthetic_case(730, 20, 4, seed=11), HbvOptions(), full=False,
                    warmup=365, dtype=torch.float32)
    (o1, *g1), (o2, *g2) = res["reference"], res["fused"]
    for key in ("streamflow", "runoff", "AET"):
        err = ((o2[key] - o1[key]).abs().max() / o1[key].abs().max()).detach()
        assert float(err) <= 1e-5, key
    for a, b in zip(g1, g2):
        assert float((b - a).norm() / a.norm()) <= 1e-3


def test_fused_backend_default_on_cpu_and_float32_dtype():
    case = synthetic_case(40, 3, 2, seed=2)
    out = run_hbv2(*case)
    assert out["streamflow"].dtype == torch.float32
    assert out["streamflow"].shape == (40, 3)
    assert out["final_states"].shape == (5, 3, 2)
    out_ref = run_hbv2(*case, options=HbvOptions(backend="reference"))
    torch.testing.assert_close(out["streamflow"], out_ref["streamflow"])


def test_initial_states_continue_a_run():
    case = synthetic_case(60, 3, 2, seed=4, dtype=torch.float64)
    f, d, s, r, u, e = case
    whole = run_hbv2(*case)
    first = run_hbv2(f[:30], d[:30], s, r, u, e)
    second = run_hbv2(f[30:], d[30:], s, r, u, e, initial_states=first["final_states"])
    torch.testing.assert_close(second["runoff"], whole["runoff"][30:])
    torch.testing.assert_close(second["final_states"], whole["final_states"])


@pytest.mark.parametrize("split", [4, 30])  # 4 < uh_length - 1: the history spans both parts
def test_states_and_uh_history_continue_a_run_exactly(split):
    """A run split in time (stores + UH history carried) equals the unsplit run: routed
    streamflow, routed components and the UH volume in transit at the split."""
    case = synthetic_case(60, 3, 2, seed=4, dtype=torch.float64)
    f, d, s, r, u, e = case
    whole = run_hbv2(*case, full_output=True)
    first = run_hbv2(f[:split], d[:split], s, r, u, e, full_output=True)
    assert first["final_uh_history"].shape == (14, 3, 3)
    second = run_hbv2(f[split:], d[split:], s, r, u, e, full_output=True,
                      initial_states=first["final_states"],
                      initial_uh_history=first["final_uh_history"])
    for k in ("streamflow", "Q0_routed", "Q1_routed", "Q2_routed", "uh_in_transit"):
        torch.testing.assert_close(second[k], whole[k][split:])
    torch.testing.assert_close(second["uh_in_transit_start"], whole["uh_in_transit"][split - 1])
    torch.testing.assert_close(second["final_uh_history"], whole["final_uh_history"])
    # without the history the first days after the split lose what was still in the UH
    cold = run_hbv2(f[split:], d[split:], s, r, u, e, initial_states=first["final_states"])
    assert float((whole["streamflow"][split] - cold["streamflow"][0]).min()) > 0.0


def test_recycled_state_store_is_never_shared_by_live_graphs():
    """Large stores (>= STORE_POOL_MIN_BYTES) come from recycled slabs: two graphs alive at
    once must keep separate stores (gradients equal to those of isolated runs), and a slab is
    reused only after its graph is gone."""
    from dhbv.physics import autograd

    n_t, n_b, nmul = 100, 800, 4  # store 100*800*4*7*4 B = 8.96 MB, above the pool threshold
    assert n_t * n_b * nmul * 7 * 4 >= autograd.STORE_POOL_MIN_BYTES
    autograd.release_store_buffers()
    cases = [synthetic_case(n_t, n_b, nmul, seed=s) for s in (11, 12)]

    def grads(case, hold=None):
        f, d, s, r, u, e = case
        d = d.clone().requires_grad_(True)
        out = run_hbv2(f, d, s, r, u, e, options=HbvOptions(backend="fused"))
        loss = (out["streamflow"] ** 2).mean() + out["AET"].mean()
        return d, loss

    isolated = []
    for case in cases:
        d, loss = grads(case)
        loss.backward()
        isolated.append(d.grad.clone())
    del loss
    # both graphs alive, backward in reverse order
    d1, loss1 = grads(cases[0])
    d2, loss2 = grads(cases[1])
    loss2.backward()
    loss1.backward()
    torch.testing.assert_close(d1.grad, isolated[0], rtol=0, atol=0)
    torch.testing.assert_close(d2.grad, isolated[1], rtol=0, atol=0)
    # after both graphs are freed the next store takes a pooled slab
    del loss1, loss2
    slabs = {slab.__array_interface__["data"][0] for slab in autograd._store_pool}
    assert slabs
    store = autograd._store_buffer((n_t, n_b, nmul, 7), "float32")
    assert store.__array_interface__["data"][0] in slabs
    del store
    autograd.release_store_buffers()
    assert autograd._store_pool == []


def test_store_pool_evicts_only_free_slabs():
    import numpy as np

    from dhbv.physics import autograd

    autograd.release_store_buffers()
    rows = autograd.STORE_POOL_MIN_BYTES // (4 * 7 * 4) + 1  # just above the threshold
    a = autograd._store_buffer((rows, 1, 4, 7), np.float32)
    b = autograd._store_buffer((rows + 1, 1, 4, 7), np.float32)
    del a  # a's slab is free, b's is in use
    c = autograd._store_buffer((rows + 2, 1, 4, 7), np.float32)  # replaces a's slab
    assert sorted(s.shape[0] for s in autograd._store_pool) == sorted(
        [(rows + 1) * 4 * 7, (rows + 2) * 4 * 7])
    d = autograd._store_buffer((rows + 1, 1, 4, 7), np.float32)  # b's slab is busy: new memory
    assert not np.shares_memory(d, b) and not np.shares_memory(d, c)
    del b, c, d
    autograd.release_store_buffers()
    assert autograd._store_pool == []
