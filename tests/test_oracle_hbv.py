"""Optional oracle: dhbv's HBV 2.0 against the published reference hydrodl2 1.4.0 ``Hbv_2``.

Skipped when hydrodl2 (PSU non-commercial licence, test-time only) is not installed. The
reference is imported only here, with its licence prompt disabled by pytest's non-TTY stdin.
"""

import pytest
import torch

from dhbv.physics import HbvOptions, run_hbv2
from dhbv.physics.synthetic import synthetic_case

hbv_2 = pytest.importorskip("hydrodl2.models.hbv.hbv_2")

pytestmark = pytest.mark.oracle

# dhbv output -> hydrodl2 flux name (all nmul means, [T, B])
PAIRS = {
    "streamflow": "streamflow", "runoff": "streamflow_no_rout", "AET": "AET_hydro",
    "Q0_routed": "srflow", "Q1_routed": "ssflow", "Q2_routed": "gwflow",
    "Q0": "srflow_no_rout", "Q1": "ssflow_no_rout", "Q2": "gwflow_no_rout",
    "recharge": "recharge", "excess": "excs", "tosoil": "tosoil", "percolation": "percolation",
    "capillary": "capillary", "evapfactor": "evapfactor", "SWE": "SWE", "PET": "PET_hydro",
}
STATES = ("SNOWPACK", "MELTWATER", "SM", "SUZ", "SLZ")


def _oracle(case, nmul, warmup):
    forcing, dyn, static, routing, uparea, elev = case
    n_t, n_b = forcing.shape[:2]
    model = hbv_2.Hbv_2(config={
        "dynamic_params": {"Hbv_2": ["parBETA", "parK0", "parBETAET"]},
        "nmul": nmul, "routing": True, "warmup": warmup, "full_output": True,
    }, device=torch.device("cpu"))
    params = (dyn.reshape(n_t, n_b, 3 * nmul),
              torch.cat([static.reshape(n_b, 13 * nmul), routing], dim=1))
    out = model({"x_phy": forcing, "ac_all": uparea, "elev_all": elev}, params)
    states = model.get_states()
    return out, states


def _rel(x, y):
    return float((x - y).abs().max() / y.abs().max().clamp(min=1e-12))


@pytest.mark.parametrize("warmup", [0, 365])
def test_outputs_match_hydrodl2(warmup):
    case = synthetic_case(730, 100, 4, seed=1)
    ref, ref_states = _oracle(case, 4, warmup)
    ours = run_hbv2(*case, warmup=warmup, full_output=True)
    for name, ref_name in PAIRS.items():
        x, y = ours[name], ref[ref_name][..., 0]
        assert x.shape == y.shape, name
        assert _rel(x, y) <= 1e-4, name
    for name in ("streamflow", "AET"):
        torch.testing.assert_close(ours[name], ref[PAIRS[name]][..., 0], rtol=1e-4, atol=1e-5)
    for i, name in enumerate(STATES):
        assert _rel(ours[name], ref_states[i].mean(-1)[warmup:]) <= 1e-4, name
    if warmup == 0:  # the reference computes BFI before cutting the warm-up
        torch.testing.assert_close(ours["BFI"], ref["BFI"], rtol=1e-4, atol=1e-3)


def test_gradients_match_hydrodl2():
    case = synthetic_case(365, 30, 3, seed=2)
    grads = []
    for use_ref in (True, False):
        f, d, s, r, u, e = case
        d, s, r = (x.clone().requires_grad_(True) for x in (d, s, r))
        if use_ref:
            out, _ = _oracle((f, d, s, r, u, e), 3, 100)
            q, aet = out["streamflow"][..., 0], out["AET_hydro"][..., 0]
        else:
            out = run_hbv2(f, d, s, r, u, e, warmup=100, options=HbvOptions(backend="fused"))
            q, aet = out["streamflow"], out["AET"]
        loss = ((q - 1.0) ** 2).mean() + 0.5 * aet.mean()
        loss.backward()
        grads.append((d.grad, s.grad, r.grad))
    for a, b in zip(*grads):
        assert float((b - a).norm() / a.norm()) <= 1e-3
