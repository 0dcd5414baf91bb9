"""Training-step time of a long spin-up with and without gradients (``train.warmup_grad``).

One δHBV2.0 training step (networks + HBV 2.0 + UH, forward and backward) on the 57-basin
benchmark's sizes: 57 units, nmul 16, LSTM 64, MLP 256 × 3, DropConnect 0.2, a 365-day target
window after a spin-up of ``--warmup`` days. Baseline: the whole spin-up carries gradients (the
default, as HBV 2.0's reference); ours: only the last ``--warmup-grad`` spin-up days do. Both run
in this process, interleaved, 1 torch thread, best of ``--repeats``; the simulated flows of the
two are checked to be equal first.

Usage: python benchmarks/warmup_grad_speed.py [--warmup 1095] [--warmup-grad 365] [--repeats 7]
"""
from __future__ import annotations

import argparse
import time


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--warmup", type=int, default=1095)
    p.add_argument("--warmup-grad", type=int, default=365)
    p.add_argument("--repeats", type=int, default=7)
    a = p.parse_args(argv)

    import torch

    from dhbv.model import DeltaHBV

    torch.set_num_threads(1)
    n_t, n_b = a.warmup + 365, 57
    g = torch.Generator().manual_seed(0)
    xd = torch.randn(n_t, n_b, 3, generator=g)
    xs = torch.randn(n_b, 29, generator=g)
    forcing = torch.stack([12.0 * torch.rand(n_t, n_b, generator=g) ** 3,
                           10.0 + 10.0 * torch.randn(n_t, n_b, generator=g),
                           3.0 * torch.rand(n_t, n_b, generator=g)], dim=-1)
    up = torch.full((n_b,), 500.0)
    el = torch.linspace(100.0, 2500.0, n_b)
    torch.manual_seed(0)
    model = DeltaHBV(3, 29, nmul=16, lstm_hidden=64, mlp_hidden=256, mlp_layers=3,
                     dropout=0.2, mlp_dropout=0.1).train()
    nograd = a.warmup - a.warmup_grad

    def step(n_pre):
        torch.manual_seed(1)
        model.zero_grad(set_to_none=True)
        q = model(xd, xs, forcing, up, el, warmup=a.warmup, nograd_days=n_pre)["streamflow"]
        (q - 1.0).pow(2).mean().backward()
        return q.detach()

    q_base, q_ours = step(0), step(nograd)
    if not torch.allclose(q_base, q_ours, rtol=1e-5, atol=1e-6):
        raise SystemExit("simulated flows differ between the two modes")
    best = {"baseline": float("inf"), "ours": float("inf")}
    for _ in range(a.repeats):
        for name, n_pre in (("baseline", 0), ("ours", nograd)):
            t0 = time.perf_counter()
            step(n_pre)
            best[name] = min(best[name], time.perf_counter() - t0)
    print(f"spin-up {a.warmup} d, gradients over the last {a.warmup_grad} d + 365 target days")
    print(f"baseline (gradients over the whole spin-up): {best['baseline'] * 1e3:.0f} ms/step")
    print(f"ours (train.warmup_grad {a.warmup_grad}):       {best['ours'] * 1e3:.0f} ms/step")
    print(f"speed-up: {best['baseline'] / best['ours']:.2f}x")


if __name__ == "__main__":
    main()
