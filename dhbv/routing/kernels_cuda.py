"""CUDA kernels of the Muskingum–Cunge network solve (numba.cuda; optional).

Level-scheduled: one thread block routes one independent sub-basin (all reaches draining to
one outlet) through the whole time window in a single launch. Per step the block computes the
coefficients of all its reaches in parallel, then solves the triangular system level by
level (the reaches of a level are independent; ``syncthreads`` between levels), each reach
gathering the new discharge of its upstream reaches in the same order as the CPU kernels.
The reverse sweep runs the levels backwards. Independent sub-basins run in parallel blocks;
the critical path of a step is the number of levels of the largest sub-basin.

The scalar physics (``celerity``: K(Q), coefficients, their adjoints; ``kernels_cpu``: clamp
volume, per-step derivatives) is recompiled from the CPU source as device functions, so CPU
and GPU share one set of equations and one adjoint; ln/exp are the device's. Under numba's
CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) the same kernels run on numpy arrays, which the
tests use.
"""

from __future__ import annotations

import math

import numpy as np

from . import celerity, kernels_cpu
from .celerity import C_HALF_DT, C_QMIN, C_ZERO

from dhbv.physics.kernels_cuda import _rebind, available, cuda  # noqa: F401 (available: API)

THREADS_PER_BLOCK = 128
_KERNELS = None


def _device_functions():
    """Device versions of the scalar physics, built from the CPU functions' source."""
    globs = dict(vars(celerity))
    globs["flog"] = cuda.jit(device=True)(lambda x: math.log(x))
    globs["fexp"] = cuda.jit(device=True)(lambda x: math.exp(x))
    for name in ("_clip", "_power_k", "_trap_forward", "_beta", "travel_time", "_trap_adjoint",
                 "travel_time_grad", "coefficients", "travel_time_adjoint"):
        globs[name] = cuda.jit(device=True)(_rebind(getattr(celerity, name).py_func, globs))
    cpu_globs = dict(vars(kernels_cpu), **{k: globs[k] for k in (
        "travel_time", "travel_time_grad", "coefficients")})
    for name in ("clamp_volume_k", "clamp_volume", "step_derivatives"):
        globs[name] = cpu_globs[name] = cuda.jit(device=True)(
            _rebind(getattr(kernels_cpu, name).py_func, cpu_globs))
    return globs


def _kernels():
    """Build (once) the forward and reverse-sweep kernels."""
    global _KERNELS
    if _KERNELS is not None:
        return _KERNELS
    dev = _device_functions()
    travel_time, coefficients = dev["travel_time"], dev["coefficients"]
    travel_time_adjoint, step_derivatives = dev["travel_time_adjoint"], dev["step_derivatives"]
    clamp_volume = dev["clamp_volume"]

    @cuda.jit(device=True)
    def reach_storage(mode, qs, row, i, indptr, indices, theta, aux, xw, cst):
        """Muskingum storage K(Q)·(X·I + (1 − X)·Q) [m³] of reach i for the state qs[row]."""
        inflow = cst[C_ZERO]
        for e in range(indptr[i], indptr[i + 1]):
            inflow += qs[row, indices[e]]
        x = float(xw[i])
        k = float(travel_time(mode, qs[row, i], theta, aux, i, cst))
        return k * (x * float(inflow) + (1.0 - x) * float(qs[row, i]))

    @cuda.jit(device=True)
    def block_range(comp_ptr, level_ptr):
        """(sub-basin, thread, threads, its level groups lv0:lv1, its reaches s0:s1 of order)."""
        comp = cuda.blockIdx.x
        lv0, lv1 = comp_ptr[comp], comp_ptr[comp + 1]
        return (comp, cuda.threadIdx.x, cuda.blockDim.x, lv0, lv1, level_ptr[lv0],
                level_ptr[lv1])

    @cuda.jit
    def forward_kernel(mode, after, qlat, hold, theta, aux, xw, down, indptr, indices, q0, cst,
                       order, level_ptr, comp_ptr, ro_idx, ro_col, ro_ptr, blk, start_conv,
                       sums, store, keep, qfinal, qs, b, c1, xs, diag):
        comp, tid, nt, lv0, lv1, s0, s1 = block_range(comp_ptr, level_ptr)
        qmin, zero, half_dt = cst[C_QMIN], cst[C_ZERO], cst[C_HALF_DT]
        n_neg = 0
        n_clamp = 0
        vol_clamp = 0.0
        vol_out = 0.0
        for idx in range(s0 + tid, s1, nt):
            i = order[idx]
            store[0, i] = q0[i]
            v = q0[i]
            qs[0, i] = v if v >= qmin else qmin
        cuda.syncthreads()
        stor = 0.0
        for idx in range(s0 + tid, s1, nt):  # storage at the start
            stor += reach_storage(mode, qs, 0, order[idx], indptr, indices, theta, aux, xw, cst)
        cuda.atomic.add(diag, 4, stor)
        n_steps = blk.size
        for t in range(n_steps):
            cur = t % 2
            nxt = 1 - cur
            r = t // hold
            row = blk[t] if start_conv else (blk[t - 1] if t >= 1 else -1)
            if row >= 0:
                for rr in range(ro_ptr[comp] + tid, ro_ptr[comp + 1], nt):
                    sums[row, ro_col[rr]] += qs[cur, ro_idx[rr]]
            for idx in range(s0 + tid, s1, nt):  # coefficients, all reaches in parallel
                i = order[idx]
                qi = qs[cur, i]
                i0 = zero
                for e in range(indptr[i], indptr[i + 1]):
                    i0 += qs[cur, indices[e]]
                k = travel_time(mode, qi, theta, aux, i, cst)
                cc1, cc2, cc3, cc4 = coefficients(k, xw[i], cst)
                ql = qlat[r, i]
                b[i] = cc2 * i0 + cc3 * qi + cc4 * (ql if ql >= qmin else qmin)
                c1[i] = cc1
            cuda.syncthreads()
            for lv in range(lv0, lv1):  # the triangular solve, level by level
                for idx in range(level_ptr[lv] + tid, level_ptr[lv + 1], nt):
                    i = order[idx]
                    inflow = zero
                    for e in range(indptr[i], indptr[i + 1]):
                        j = indices[e]
                        inflow += xs[j] if after else qs[nxt, j]
                    x = b[i] + c1[i] * inflow
                    xs[i] = x
                    store[t + 1 if keep else 0, i] = x
                    qn = x
                    kd = down[i]
                    if x < qmin:
                        qn = qmin
                        n_clamp += 1
                        if x < zero:
                            n_neg += 1
                        vol_clamp += clamp_volume(mode, after, i, kd, qmin - x, qs[cur, i],
                                                  qs[cur, kd] if kd >= 0 else zero, theta, aux,
                                                  xw, cst)
                    if kd < 0:
                        vol_out += float(half_dt) * (float(qs[cur, i]) + float(qn))
                    qs[nxt, i] = qn
                cuda.syncthreads()
        fin = n_steps % 2
        if n_steps and not start_conv and blk[n_steps - 1] >= 0:
            for rr in range(ro_ptr[comp] + tid, ro_ptr[comp + 1], nt):
                sums[blk[n_steps - 1], ro_col[rr]] += qs[fin, ro_idx[rr]]
        stor = 0.0
        for idx in range(s0 + tid, s1, nt):  # storage at the end
            i = order[idx]
            qfinal[i] = qs[fin, i]
            stor += reach_storage(mode, qs, fin, i, indptr, indices, theta, aux, xw, cst)
        cuda.atomic.add(diag, 0, float(n_neg))
        cuda.atomic.add(diag, 1, float(n_clamp))
        cuda.atomic.add(diag, 2, vol_clamp)
        cuda.atomic.add(diag, 3, vol_out)
        cuda.atomic.add(diag, 5, stor)

    @cuda.jit
    def backward_kernel(mode, after, qlat, hold, theta, aux, xw, down, indptr, indices, store,
                        cst, order, level_ptr, comp_ptr, ro_idx, ro_col, ro_ptr, blk, start_conv,
                        gsums, gqfinal, gtheta, gqlat, gq0, g, xb, cc, kth):
        comp, tid, nt, lv0, lv1, s0, s1 = block_range(comp_ptr, level_ptr)
        qmin, zero = cst[C_QMIN], cst[C_ZERO]
        m = theta.shape[0]
        n_steps = blk.size
        for idx in range(s0 + tid, s1, nt):
            i = order[idx]
            g[i] = gqfinal[i]
            for j in range(m):
                gtheta[j, i] = zero
            for r in range(qlat.shape[0]):
                gqlat[r, i] = zero
        cuda.syncthreads()
        if not start_conv and blk[n_steps - 1] >= 0:
            for rr in range(ro_ptr[comp] + tid, ro_ptr[comp + 1], nt):
                g[ro_idx[rr]] += gsums[blk[n_steps - 1], ro_col[rr]]
        cuda.syncthreads()
        for t in range(n_steps - 1, -1, -1):
            r = t // hold
            for idx in range(s0 + tid, s1, nt):
                i = order[idx]
                v = store[t, i]
                step_derivatives(mode, v if v >= qmin else qmin, theta, aux, xw, i, cst, cc, kth)
            cuda.syncthreads()
            for lv in range(lv1 - 1, lv0 - 1, -1):  # transposed system, downstream first
                for idx in range(level_ptr[lv] + tid, level_ptr[lv + 1], nt):
                    i = order[idx]
                    kd = down[i]
                    up = cc[0, kd] * xb[kd] if kd >= 0 else zero
                    free = store[t + 1, i] >= qmin
                    if after:
                        xb[i] = (g[i] if free else zero) + up
                    else:
                        xb[i] = g[i] + up if free else zero
                cuda.syncthreads()
            for idx in range(s0 + tid, s1, nt):
                i = order[idx]
                xbi = xb[i]
                i1 = zero
                i0 = zero
                for e in range(indptr[i], indptr[i + 1]):
                    j = indices[e]
                    v1 = store[t + 1, j]
                    i1 += v1 if (after or v1 >= qmin) else qmin
                    v0 = store[t, j]
                    i0 += v0 if v0 >= qmin else qmin
                v = store[t, i]
                qi = v if v >= qmin else qmin
                ql = qlat[r, i]
                kb = travel_time_adjoint(xbi * i1, xbi * i0, xbi * qi,
                                         xbi * (ql if ql >= qmin else qmin), cc[3, i], xw[i], cst)
                for j in range(m):
                    gtheta[j, i] += kb * kth[j, i]
                if ql >= qmin:
                    gqlat[r, i] += xbi * cc[3, i]
                kd = down[i]
                gi = xbi * cc[2, i] + kb * cc[4, i]
                if kd >= 0:
                    gi += cc[1, kd] * xb[kd]
                g[i] = gi
            cuda.syncthreads()
            row = blk[t] if start_conv else (blk[t - 1] if t >= 1 else -1)
            if row >= 0:
                for rr in range(ro_ptr[comp] + tid, ro_ptr[comp + 1], nt):
                    g[ro_idx[rr]] += gsums[row, ro_col[rr]]
            cuda.syncthreads()
        for idx in range(s0 + tid, s1, nt):
            i = order[idx]
            gq0[i] = g[i] if store[0, i] >= qmin else zero

    _KERNELS = (forward_kernel, backward_kernel)
    return _KERNELS


def readout_schedule(graph, ro_idx: np.ndarray):
    """(ro_idx sorted by owning block, their output columns, ro_ptr): block c accumulates the
    readouts ro_ptr[c]:ro_ptr[c+1] of the sorted list."""
    order, level_ptr, comp_ptr = graph.schedule()
    block_of = np.empty(graph.n, np.int64)
    block_of[order] = np.repeat(np.arange(comp_ptr.size - 1), np.diff(level_ptr[comp_ptr]))
    owner = block_of[ro_idx]
    col = np.argsort(owner, kind="stable")
    ro_ptr = np.searchsorted(owner[col], np.arange(comp_ptr.size)).astype(np.int32)
    return ro_idx[col].astype(np.int32), col.astype(np.int32), ro_ptr


def _schedule_arrays(graph, ro_idx, blk, to_device):
    order, level_ptr, comp_ptr = graph.schedule()
    ro_sorted, ro_col, ro_ptr = readout_schedule(graph, ro_idx)
    return comp_ptr.size - 1, [to_device(a) for a in (
        graph.downstream, graph.indptr, graph.indices, order, level_ptr, comp_ptr, ro_sorted,
        ro_col, ro_ptr, blk)]


def forward_arrays(mode, after, qlat, hold, theta, aux, xw, graph, q0, cst, ro_idx, blk,
                   start_conv, sums, store, qfinal, diag, threads=THREADS_PER_BLOCK, stream=0,
                   to_device=np.asarray, empty=np.empty):
    """Launch the forward kernel: same arrays and results as ``kernels_cpu.forward_kernel``
    (``store`` with a single row = not kept). ``to_device``/``empty`` make device arrays
    (identity/numpy under the simulator)."""
    n_blocks, (down, indptr, indices, order, level_ptr, comp_ptr, ro_sorted, ro_col, ro_ptr,
               blk_d) = _schedule_arrays(graph, ro_idx, blk, to_device)
    n = graph.n
    dtype = np.dtype(cst.dtype)
    qs = empty((2, n), dtype)
    b, c1, xs = empty(n, dtype), empty(n, dtype), empty(n, dtype)
    _kernels()[0][n_blocks, threads, stream](
        mode, after, qlat, hold, theta, aux, xw, down, indptr, indices, q0, cst, order,
        level_ptr, comp_ptr, ro_sorted, ro_col, ro_ptr, blk_d, start_conv, sums, store,
        store.shape[0] > 1, qfinal, qs, b, c1, xs, diag)


def backward_arrays(mode, after, qlat, hold, theta, aux, xw, graph, store, cst, ro_idx, blk,
                    start_conv, gsums, gqfinal, gtheta, gqlat, gq0, threads=THREADS_PER_BLOCK,
                    stream=0, to_device=np.asarray, empty=np.empty):
    """Launch the reverse-sweep kernel: same results as ``kernels_cpu.backward_kernel``."""
    n_blocks, (down, indptr, indices, order, level_ptr, comp_ptr, ro_sorted, ro_col, ro_ptr,
               blk_d) = _schedule_arrays(graph, ro_idx, blk, to_device)
    n = graph.n
    dtype = np.dtype(cst.dtype)
    g, xb = empty(n, dtype), empty(n, dtype)
    cc, kth = empty((5, n), dtype), empty((5, n), dtype)
    _kernels()[1][n_blocks, threads, stream](
        mode, after, qlat, hold, theta, aux, xw, down, indptr, indices, store, cst, order,
        level_ptr, comp_ptr, ro_sorted, ro_col, ro_ptr, blk_d, start_conv, gsums, gqfinal,
        gtheta, gqlat, gq0, g, xb, cc, kth)


def _torch_device(device):
    """(to_device, empty, stream) building torch CUDA tensors viewed as numba device arrays."""
    import torch

    def to_device(a):
        return cuda.as_cuda_array(torch.as_tensor(np.ascontiguousarray(a), device=device))

    def empty(shape, dtype):
        return cuda.as_cuda_array(torch.empty(shape, dtype=getattr(torch, np.dtype(dtype).name),
                                              device=device))

    return to_device, empty, cuda.external_stream(torch.cuda.current_stream(device).cuda_stream)


def forward(qlat, theta, q0, plan, keep: bool):
    """``MuskingumCungeFunction.forward`` for CUDA tensors: (sums, qfinal, diag, store)."""
    import torch

    device, dtype = qlat.device, qlat.dtype
    n = q0.shape[0]
    to_device, empty, stream = _torch_device(device)
    sums = torch.zeros((plan.rows, plan.ro_idx.size), dtype=dtype, device=device)
    store = torch.empty(((plan.n_steps + 1) if keep else 1, n), dtype=dtype, device=device)
    qfinal = torch.empty(n, dtype=dtype, device=device)
    diag = torch.zeros(6, dtype=torch.float64, device=device)
    ql, th, q0c = qlat.detach().contiguous(), theta.detach().contiguous(), q0.detach().contiguous()
    forward_arrays(plan.mode, plan.after, cuda.as_cuda_array(ql), plan.hold,
                   cuda.as_cuda_array(th), to_device(plan.aux), to_device(plan.xw), plan.graph,
                   cuda.as_cuda_array(q0c), to_device(plan.cst), plan.ro_idx, plan.blk,
                   plan.start_conv, cuda.as_cuda_array(sums), cuda.as_cuda_array(store),
                   cuda.as_cuda_array(qfinal), cuda.as_cuda_array(diag), stream=stream,
                   to_device=to_device, empty=empty)
    return sums, qfinal, diag, store


def backward(qlat, theta, store, plan, gsums, gqfinal):
    """``MuskingumCungeFunction.backward`` for CUDA tensors: (g_lateral, g_theta, g_q0)."""
    import torch

    device, dtype = qlat.device, qlat.dtype
    n = store.shape[1]
    to_device, empty, stream = _torch_device(device)
    gs = (torch.zeros((plan.rows, plan.ro_idx.size), dtype=dtype, device=device)
          if gsums is None else gsums.to(dtype).contiguous())
    gf = torch.zeros(n, dtype=dtype, device=device) if gqfinal is None else \
        gqfinal.to(dtype).contiguous()
    ql, th = qlat.detach().contiguous(), theta.detach().contiguous()
    gth, gql = torch.empty_like(th), torch.empty_like(ql)
    gq0 = torch.empty(n, dtype=dtype, device=device)
    backward_arrays(plan.mode, plan.after, cuda.as_cuda_array(ql), plan.hold,
                    cuda.as_cuda_array(th), to_device(plan.aux), to_device(plan.xw), plan.graph,
                    cuda.as_cuda_array(store), to_device(plan.cst), plan.ro_idx, plan.blk,
                    plan.start_conv, cuda.as_cuda_array(gs), cuda.as_cuda_array(gf),
                    cuda.as_cuda_array(gth), cuda.as_cuda_array(gql), cuda.as_cuda_array(gq0),
                    stream=stream, to_device=to_device, empty=empty)
    return gql, gth, gq0
