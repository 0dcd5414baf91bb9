"""CUDA kernels under numba's CUDA simulator (tiny case, subprocess) against the CPU kernels."""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import numpy as np
    from dhbv.physics import kernels_cpu, kernels_cuda
    from dhbv.physics.equations import N_STORE, make_constants
    assert kernels_cuda.available()
    rng = np.random.default_rng(0)
    B, M, T = 3, 2, 6
    P = rng.gamma(0.6, 6.0, (T, B))
    TC = rng.normal(1.0, 4.0, (T, B))
    PET = rng.uniform(0, 4, (T, B))
    dyn = np.stack([rng.uniform(1, 6, (T, B, M)), rng.uniform(0.05, 0.9, (T, B, M)),
                    rng.uniform(0.3, 5, (T, B, M))], -1)
    lo = np.array([50, 0.01, 0.001, 0.2, 0, 0, -2.5, 0.5, 0, 0, 0, -5.0])
    hi = np.array([1000, 0.5, 0.2, 1, 10, 100, 2.5, 10, 0.1, 0.2, 1, 5.0])
    sta = lo + rng.uniform(0, 1, (B, M, 12)) * (hi - lo)
    s0 = rng.uniform(0, 30, (5, B, M))
    cst = make_constants(1e-5, M, np.float64)

    def cpu_fwd(*a):  # blocks of 2 basins: one full block and one partial block
        kernels_cpu.forward_kernel(*a, 2, True, np.zeros((2, kernels_cpu.N_CHK)),
                                   a[3].transpose(0, 1, 3, 2))

    # store widths: start-of-day states only (powers recomputed) and states + powers
    runs = [(f, b, n) for n in (5, N_STORE)
            for f, b in ((cpu_fwd, kernels_cpu.backward_kernel),
                         (kernels_cuda.forward_arrays, kernels_cuda.backward_arrays))]
    for bounded in (False, True):
        res = []
        for fwd, bwd, n_store in runs:
            out = np.zeros((18, T, B)); store = np.zeros((T, B, M, n_store))
            fin = np.zeros((5, B, M))
            fwd(P, TC, PET, dyn, sta, s0, bounded, cst, out, store, fin)
            gout = np.linspace(-1, 1, 18 * B * T).reshape(18, T, B); gfin = np.ones((5, B, M))
            gdyn = np.zeros_like(dyn); gsta = np.zeros_like(sta); gs0 = np.zeros_like(s0)
            bwd(P, TC, PET, dyn, sta, store, bounded, cst, gout, gfin, gdyn, gsta, gs0)
            res.append((out, fin, gdyn, gsta, gs0))
        for other in res[1:]:
            for a, b in zip(res[0], other):
                np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)
    print("CUDASIM-OK")
""")


def test_cuda_kernels_in_simulator():
    pytest.importorskip("numba.cuda")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    res = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         env=env, timeout=300, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert res.returncode == 0, res.stderr[-3000:]
    assert "CUDASIM-OK" in res.stdout
