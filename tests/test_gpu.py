"""GPU: the fused HBV 2.0 CUDA kernels against the CPU kernels, and a short training run on CUDA.

Marked ``gpu`` (``pytest -m gpu``); skipped without a CUDA device or without numba's CUDA
support (the fused backend then falls back to the plain-torch loop on CUDA tensors). The CUDA
kernels are compiled from the CPU kernels' source, so every output and every gradient agrees
to rounding: measured on an H200, float64 to ≤ 4e-15 (outputs) and 4e-14 (gradients) of each
series' largest magnitude, float32 to ≤ 3e-6 and 4e-5. The tolerances below leave a factor of
25 or more. Speed: ``benchmarks/gpu_speed.py``.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

if not hasattr(np, "row_stack"):  # numba-cuda releases that still call it, on numpy >= 2.4
    np.row_stack = np.vstack


def _skip_reason() -> str | None:
    if not torch.cuda.is_available():
        return "no CUDA device"
    from dhbv.physics import kernels_cuda

    if not kernels_cuda.available():
        return "numba cannot launch CUDA kernels (numba-cuda missing or no driver)"
    return None


_REASON = _skip_reason()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_REASON is not None, reason=_REASON or "")]

# (basins, days, nmul) and (outputs, gradients) tolerances relative to each series' magnitude
SIZES = {torch.float64: (64, 400, 4), torch.float32: (100, 730, 4)}
TOLERANCES = {torch.float64: (1e-12, 1e-11), torch.float32: (1e-4, 1e-3)}


def _outputs_and_grads(inputs, options):
    """Every floating output of one full-output run and the gradients of the dynamic, static
    and UH parameters of a loss that every output enters."""
    from dhbv.physics import run_hbv2

    f, d, s, r, u, e = inputs
    d, s, r = (x.clone().requires_grad_(True) for x in (d, s, r))
    out = run_hbv2(f, d, s, r, u, e, options=options, full_output=True)
    series = {k: v for k, v in out.items() if torch.is_tensor(v) and v.dtype.is_floating_point}
    loss = ((series["streamflow"] - 1.0) ** 2).mean() + series["AET"].mean()
    for k, v in series.items():
        if k not in ("streamflow", "AET"):
            loss = loss + 1e-3 * v.mean()
    loss.backward()
    grads = {"dynamic": d.grad, "static": s.grad, "uh": r.grad}
    return ({k: v.detach().double().cpu() for k, v in series.items()},
            {k: g.double().cpu() for k, g in grads.items()})


def _relative_errors(cpu: dict, gpu: dict) -> dict:
    """max |gpu − cpu| / max |cpu| per series (the floor keeps all-zero series absolute)."""
    assert cpu.keys() == gpu.keys()
    return {k: float((gpu[k] - cpu[k]).abs().max() / max(float(cpu[k].abs().max()), 1e-8))
            for k in cpu}


@pytest.mark.parametrize("exchange", ["paper", "bounded"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_cuda_kernels_match_cpu_kernels(dtype, exchange):
    from dhbv.physics import HbvOptions
    from dhbv.physics.synthetic import synthetic_case

    n_b, n_t, nmul = SIZES[dtype]
    options = HbvOptions(backend="fused", exchange=exchange)
    cpu_in = synthetic_case(n_t, n_b, nmul, seed=3, dtype=dtype)
    gpu_in = tuple(x.to("cuda") for x in cpu_in)
    out_c, grad_c = _outputs_and_grads(cpu_in, options)
    out_g, grad_g = _outputs_and_grads(gpu_in, options)
    tol_out, tol_grad = TOLERANCES[dtype]
    err_out = _relative_errors(out_c, out_g)
    err_grad = _relative_errors(grad_c, grad_g)
    assert len(err_out) >= 30, sorted(err_out)
    bad = {k: v for k, v in err_out.items() if not v <= tol_out}
    assert not bad, f"outputs beyond {tol_out:g}: {bad}"
    bad = {k: v for k, v in err_grad.items() if not v <= tol_grad}
    assert not bad, f"gradients beyond {tol_grad:g}: {bad}"


def test_short_training_on_cuda_has_finite_loss(repo, tmp_path):
    import pandas as pd

    from dhbv.config import load_config
    from dhbv.training import train

    cfg = load_config(repo / "config" / "camels57.yaml")
    cfg["run"]["device"] = "cuda"
    cfg["train"].update(ensemble=1, parallel_members=1, epochs=1, iterations_per_epoch=3,
                        checkpoint_every=1, validate_every=1, max_minutes=None, progress=False)
    torch.cuda.reset_peak_memory_stats()
    train(cfg, tmp_path / "run", base_dir=repo)
    assert torch.cuda.max_memory_allocated() > 0
    log = pd.read_csv(tmp_path / "run" / "training_log.csv")
    assert len(log) == 1
    assert math.isfinite(float(log["train_loss"].iloc[0]))
    assert (tmp_path / "run" / "model.pt").exists()
