"""GPU speed: fused HBV 2.0 CUDA kernels and δHBV training steps on one GPU.

1. Forward and forward+backward times of HBV 2.0 (+ UH): dhbv's fused CUDA kernels vs dhbv's
   plain-torch reference loop on the same GPU, and vs the fused CPU kernels on this machine's
   cores, for (a) 1000 basins × 365 d × nmul 4, (b) 100 × 730 × 16 and (c) 20,000 × 365 × 16.
   Best of ``--repeats`` after one untimed call each (compilation, caches).
2. Seconds per training iteration of ``config/camels57.yaml`` (one member, ``--epochs`` epochs,
   the first epoch, with compilation, left out).

That the CUDA kernels compute what the CPU kernels compute is ``tests/test_gpu.py``
(``pytest -m gpu``). Without a CUDA device this prints a message and exits 0.

Usage: python benchmarks/gpu_speed.py [--cases a,b,c] [--repeats 3] [--epochs 3] [--skip-train]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

if not hasattr(np, "row_stack"):  # numba-cuda releases that still call it, on numpy >= 2.4
    np.row_stack = np.vstack

REPO = Path(__file__).resolve().parents[1]
CASES = {"a": (1000, 365, 4), "b": (100, 730, 16), "c": (20000, 365, 16)}


def _call(inputs, backend: str, backward: bool) -> None:
    """One run_hbv2 call (+ backward of a loss on streamflow and AET)."""
    from dhbv.physics import HbvOptions, run_hbv2

    options = HbvOptions(backend=backend)
    f, d, s, r, u, e = inputs
    if not backward:
        with torch.no_grad():
            run_hbv2(f, d, s, r, u, e, options=options)
        return
    d, s, r = (x.clone().requires_grad_(True) for x in (d, s, r))
    out = run_hbv2(f, d, s, r, u, e, options=options)
    (((out["streamflow"] - 1.0) ** 2).mean() + out["AET"].mean()).backward()


def _best_seconds(inputs, backend: str, backward: bool, repeats: int) -> float:
    cuda = inputs[0].is_cuda
    _call(inputs, backend, backward)
    best = float("inf")
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        _call(inputs, backend, backward)
        if cuda:
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def kernel_speed(cases, repeats: int) -> None:
    import numba

    from dhbv.physics.synthetic import synthetic_case

    print(f"HBV 2.0 + UH, best of {repeats} (1 for the slow baselines of case c); "
          f"CPU: {numba.get_num_threads()} numba threads")
    print(f"{'case':30s} {'mode':8s} {'CUDA s':>8s} {'GPU ref s':>9s} {'ratio':>7s} "
          f"{'CPU s':>8s} {'ratio':>7s} {'GPU MiB':>8s}")
    for name in cases:
        n_b, n_t, nmul = CASES[name]
        cpu_in = synthetic_case(n_t, n_b, nmul, seed=0)
        gpu_in = tuple(x.to("cuda") for x in cpu_in)
        slow = 1 if name == "c" else repeats
        for mode, backward in (("fwd", False), ("fwd+bwd", True)):
            torch.cuda.reset_peak_memory_stats()
            fused = _best_seconds(gpu_in, "fused", backward, repeats)
            peak = torch.cuda.max_memory_allocated() / 2**20
            ref = _best_seconds(gpu_in, "reference", backward, slow)
            cpu = _best_seconds(cpu_in, "fused", backward, slow)
            label = f"({name}) {n_b} x {n_t} d x nmul {nmul}"
            print(f"{label:30s} {mode:8s} {fused:8.4f} {ref:9.3f} {ref / fused:6.0f}x "
                  f"{cpu:8.3f} {cpu / fused:6.0f}x {peak:8.0f}", flush=True)


def training_speed(epochs: int) -> None:
    import pandas as pd

    from dhbv.config import load_config
    from dhbv.training import train

    cfg = load_config(REPO / "config" / "camels57.yaml")
    cfg["run"]["device"] = "cuda"
    cfg["train"].update(epochs=epochs, validate_every=epochs, checkpoint_every=epochs,
                        max_minutes=None, ensemble=1, parallel_members=1, progress=False)
    its = int(cfg["train"]["iterations_per_epoch"])
    with tempfile.TemporaryDirectory() as tmp:
        train(cfg, Path(tmp) / "run", base_dir=REPO)
        seconds = pd.read_csv(Path(tmp) / "run" / "training_log.csv")["seconds"].tolist()
    timed = seconds[1:] or seconds
    print(f"training config/camels57.yaml on the GPU: {sum(timed) / len(timed) / its:.3f} s per "
          f"iteration ({its} iterations per epoch; epoch seconds {[round(s, 2) for s in seconds]})")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", default="a,b,c")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--skip-train", action="store_true")
    a = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device: nothing to time")
        return 0
    from dhbv.physics import kernels_cuda

    print(f"GPU {torch.cuda.get_device_name()}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPU cores")
    if kernels_cuda.available():
        kernel_speed(a.cases.split(","), a.repeats)
    else:
        print("numba cannot launch CUDA kernels (numba-cuda missing or no driver): the fused "
              "backend falls back to the plain-torch loop on CUDA; kernel timing skipped")
    if not a.skip_train:
        training_speed(a.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
