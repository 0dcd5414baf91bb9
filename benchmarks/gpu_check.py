"""GPU check: fused HBV 2.0 kernels on CUDA (values, gradients, speed) and δHBV training steps.

1. CUDA kernels (numba.cuda, compiled from the CPU kernels' source) against the CPU kernels:
   every output and the gradients of the dynamic, static and routing parameters, float64 and
   float32, both exchange modes.
2. Forward and forward+backward times on the GPU: dhbv fused CUDA kernels vs dhbv's plain-torch
   reference loop on the same GPU, and vs the fused CPU kernels on this machine's cores, for
   (a) 1000 basins x 365 d x nmul 4, (b) 100 x 730 x 16 and (c) 20,000 x 365 x 16.
3. A few training epochs of ``config/camels57.yaml`` on the GPU (seconds per iteration).

Usage: python benchmarks/gpu_check.py [--out gpu_check.json] [--skip-train] [--repeats 3]
Each section reports its own failure and the script goes on; results are printed as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np
import torch

if not hasattr(np, "row_stack"):  # numba-cuda releases that still call it, on numpy >= 2.4
    np.row_stack = np.vstack

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CASES = {"a": (1000, 365, 4), "b": (100, 730, 16), "c": (20000, 365, 16)}


def _inputs(n_t, n_b, nmul, device, dtype=torch.float32, seed=0):
    from dhbv.physics.synthetic import synthetic_case

    return tuple(x.to(device) for x in synthetic_case(n_t, n_b, nmul, seed=seed, dtype=dtype))


def _run(inputs, backend, backward, options=None, full=False):
    """One call of run_hbv2 (+ backward of a loss touching Q and ET, and with ``full`` every
    other output); returns outputs, grads."""
    from dhbv.physics import HbvOptions, run_hbv2

    opts = options or HbvOptions(backend=backend)
    f, d, s, r, u, e = inputs
    if backward:
        d, s, r = (x.clone().requires_grad_(True) for x in (d, s, r))
        out = run_hbv2(f, d, s, r, u, e, options=opts, full_output=full)
        loss = ((out["streamflow"] - 1.0) ** 2).mean() + out["AET"].mean()
        for k, v in out.items():  # every series enters the gradient
            if torch.is_tensor(v) and v.dtype.is_floating_point and k not in ("streamflow",
                                                                             "AET"):
                loss = loss + 1e-3 * v.float().mean()
        loss.backward()
        return out, (d.grad, s.grad, r.grad)
    with torch.no_grad():
        return run_hbv2(f, d, s, r, u, e, options=opts), None


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(inputs, backend, backward, device, repeats):
    _run(inputs, backend, backward)  # compile / warm up
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        _run(inputs, backend, backward)
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


def _max_rel(a, b):
    a = a.detach().double().cpu()
    b = b.detach().double().cpu()
    scale = torch.clamp(torch.maximum(a.abs(), b.abs()), min=1e-6)
    return float(((a - b).abs() / scale).max())


def _norm_rel(a, b):
    """max |a - b| / max |a| (error relative to the series' magnitude)."""
    a = a.detach().double().cpu()
    b = b.detach().double().cpu()
    return float((a - b).abs().max() / torch.clamp(a.abs().max(), min=1e-30))


def check_equivalence(device):
    from dhbv.physics import HbvOptions

    res = {}
    for dtype, (n_b, n_t, nmul) in ((torch.float64, (64, 400, 4)), (torch.float32, (100, 730, 4))):
        for exchange in ("paper", "bounded"):
            opts = HbvOptions(backend="fused", exchange=exchange)
            cpu_in = _inputs(n_t, n_b, nmul, torch.device("cpu"), dtype, seed=3)
            gpu_in = tuple(x.to(device) for x in cpu_in)
            out_c, g_c = _run(cpu_in, "fused", True, opts, full=True)
            out_g, g_g = _run(gpu_in, "fused", True, opts, full=True)
            keys = [k for k in out_c
                    if torch.is_tensor(out_c[k]) and out_c[k].dtype.is_floating_point]
            rel = {k: _max_rel(out_c[k], out_g[k]) for k in keys}
            norm = {k: _norm_rel(out_c[k], out_g[k]) for k in keys}
            worst = max(keys, key=rel.get)
            res[f"{str(dtype)[6:]}_{exchange}"] = {
                "max_rel_outputs": rel[worst], "worst_output": worst,
                "worst_output_norm_rel": norm[worst],
                "max_norm_rel_outputs": max(norm.values()),
                "max_rel_grads": max(_max_rel(a, b) for a, b in zip(g_c, g_g)),
                "max_norm_rel_grads": max(_norm_rel(a, b) for a, b in zip(g_c, g_g)),
                "n_outputs": len(keys)}
    return res


def check_speed(device, repeats):
    import numba

    rows = []
    for name, (n_b, n_t, nmul) in CASES.items():
        gpu_in = _inputs(n_t, n_b, nmul, device)
        cpu_in = _inputs(n_t, n_b, nmul, torch.device("cpu"))
        row = {"case": name, "basins": n_b, "days": n_t, "nmul": nmul}
        for mode, bwd in (("fwd", False), ("fwd+bwd", True)):
            row[f"gpu_fused_{mode}_s"] = _time(gpu_in, "fused", bwd, device, repeats)
            row[f"gpu_reference_{mode}_s"] = _time(gpu_in, "reference", bwd, device,
                                                   1 if name == "c" else repeats)
            row[f"cpu_fused_{mode}_s"] = _time(cpu_in, "fused", bwd, torch.device("cpu"),
                                               1 if name == "c" else repeats)
        row["cpu_threads"] = numba.get_num_threads()
        row["gpu_peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
        torch.cuda.reset_peak_memory_stats(device)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def check_training(device, epochs):
    import pandas as pd

    from dhbv.config import load_config
    from dhbv.training import train

    cfg = load_config("config/camels57.yaml")
    cfg["run"]["device"] = device.type
    cfg["train"].update(epochs=epochs, validate_every=epochs, checkpoint_every=epochs,
                        max_minutes=4, ensemble=1)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        train(cfg, Path(tmp) / "run")
        wall = time.perf_counter() - t0
        log = pd.read_csv(Path(tmp) / "run" / "training_log.csv")
    its = int(cfg["train"]["iterations_per_epoch"])
    sec = log["seconds"].tolist()
    return {"epochs": epochs, "iterations_per_epoch": its, "epoch_seconds": sec,
            "seconds_per_iteration_after_first_epoch": (sum(sec[1:]) / max(1, len(sec) - 1)
                                                        / its),
            "train_loss": log["train_loss"].tolist(), "wall_s": wall}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=None)
    p.add_argument("--skip-train", action="store_true")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--only", default=None, help="run one section: equivalence|speed|training")
    a = p.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA device; nothing to check")
        return 1
    device = torch.device("cuda")
    report = {"gpu": torch.cuda.get_device_name(device), "torch": torch.__version__,
              "cpu_count": os.cpu_count()}
    try:
        import numba

        report["numba"] = numba.__version__
        from dhbv.physics import kernels_cuda

        report["numba_cuda_available"] = kernels_cuda.available()
    except Exception:  # noqa: BLE001 - report and go on
        report["numba_error"] = traceback.format_exc(limit=3)
    sections = [("equivalence", lambda: check_equivalence(device)),
                ("speed", lambda: check_speed(device, a.repeats))]
    if not a.skip_train:
        sections.append(("training", lambda: check_training(device, a.epochs)))
    for name, fn in sections:
        if a.only and name != a.only:
            continue
        t0 = time.perf_counter()
        try:
            report[name] = fn()
        except Exception:  # noqa: BLE001 - report and go on
            report[name] = {"error": traceback.format_exc()[-3000:]}
        report[f"{name}_wall_s"] = time.perf_counter() - t0
        print(json.dumps({name: report[name]}, indent=1, default=str), flush=True)
        if a.out:
            Path(a.out).write_text(json.dumps(report, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
