"""Routing CUDA kernels under numba's CUDA simulator (tiny forest, subprocess) against the CPU
kernels: forward (readout sums, final discharge, stored states, diagnostics) and adjoint."""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import numpy as np, torch
    from dhbv.routing import kernels_cpu, kernels_cuda, celerity
    from dhbv.routing import ChannelParameters, RoutingGraph, RoutingOptions, kernel_parameters
    from dhbv.routing.solver import block_schedule
    assert kernels_cuda.available()
    rng = np.random.default_rng(0)
    # two sub-basins: 0,1 -> 2; 3 -> 4; 2,4 -> 5 -> 8 (outlet) and 6, 7 -> 9 (outlet)
    down = np.array([2, 2, 5, 4, 5, 8, 9, 9, -1, -1])
    graph = RoutingGraph(down, rng.uniform(2000, 9000, 10), rng.uniform(5e-4, 0.01, 10))
    n, R, hold = 10, 3, 3
    qlat = rng.uniform(0.0, 3.0, (R, n)); qlat[1, [0, 1, 6]] = 40.0
    q0 = rng.uniform(0.02, 5.0, n)
    ro_idx = np.array([8, 2, 9, 5], np.int32)
    cases = [("wide", "after", False), ("trapezoid_exact", "sweep", True),
             ("trapezoid", "after", True), ("wide", "sweep", False)]
    for geometry, clamp, start_conv in cases:
        opts = RoutingOptions(geometry=geometry, clamp=clamp, dt=1800.0, q_min=0.05)
        pars = ChannelParameters(n=torch.tensor(rng.uniform(0.03, 0.2, n)),
                                 q=torch.tensor(rng.uniform(0.1, 0.9, n)),
                                 p=torch.tensor(rng.uniform(5, 40, n)))
        theta, aux = [a.numpy() for a in kernel_parameters(graph, pars, opts, torch.float64)]
        cst = celerity.make_constants(opts, np.float64)
        xw = np.full(n, opts.x)
        blk, nb, _, _ = block_schedule(R * hold, 2, 0, 2)
        res = []
        for cpu in (True, False):
            sums = np.zeros((nb + 1, ro_idx.size)); store = np.zeros((R * hold + 1, n))
            qf = np.zeros(n); diag = np.zeros(6)
            args = (opts.mode, opts.clamp_after, qlat, hold, theta, aux, xw)
            if cpu:
                kernels_cpu.forward_kernel(*args, graph.downstream, q0, cst, ro_idx, False, blk,
                                           start_conv, sums, store, qf, diag)
            else:
                kernels_cuda.forward_arrays(*args, graph, q0, cst, ro_idx, blk, start_conv, sums,
                                            store, qf, diag, threads=3)
            gs = np.linspace(-1, 2, sums.size).reshape(sums.shape); gf = np.linspace(1, 0, n)
            gth = np.zeros_like(theta); gql = np.zeros_like(qlat); gq0 = np.zeros(n)
            if cpu:
                kernels_cpu.backward_kernel(*args, graph.downstream, store, cst, ro_idx, blk,
                                            start_conv, gs, gf, gth, gql, gq0)
            else:
                kernels_cuda.backward_arrays(*args, graph, store, cst, ro_idx, blk, start_conv,
                                             gs, gf, gth, gql, gq0, threads=3)
            res.append((sums, qf, store, diag, gth, gql, gq0))
        assert res[0][3][0] > 0, "the case should have negative solves"
        for a, b in zip(*res):
            np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-13)
    print("CUDASIM-OK")
""")


def test_routing_cuda_kernels_in_simulator(tmp_path, repo):
    pytest.importorskip("numba.cuda")
    script = tmp_path / "routing_cudasim.py"
    script.write_text(SCRIPT)
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=600, cwd=repo, env={**os.environ, "NUMBA_ENABLE_CUDASIM": "1"})
    assert run.returncode == 0 and "CUDASIM-OK" in run.stdout, run.stderr[-3000:]
