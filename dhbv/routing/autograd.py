"""torch.autograd.Functions around the routing kernels (forward sweep + hand-written adjoint).

``MuskingumCungeFunction`` routes a whole window: inputs lateral inflow [R, n], kernel
parameters θ [m, n] (``geometry.kernel_parameters``) and the initial discharge [n]; outputs the
accumulated readout sums [rows, r], the final discharge [n] and the (non-differentiable)
diagnostics [6] (see ``kernels_cpu.forward_kernel``). ``HotStartFunction`` gives the
steady-state discharge of a lateral inflow
(upstream accumulation). Static data (network, options, readout schedule) travel in a
:class:`RoutingPlan`.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numba
import numpy as np
import torch

from . import kernels_cpu

#: below this many reaches the kernels run on one thread: waking the thread pool twice per
#: routing step costs more than the step (measured 6x slower on the 213-reach Juniata)
PARALLEL_MIN_REACHES = 20_000


@contextmanager
def kernel_threads(n: int):
    """Run the enclosed kernels single-threaded for small networks (numba threads restored)."""
    before = numba.get_num_threads()
    if n < PARALLEL_MIN_REACHES and before > 1:
        numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


@dataclass
class RoutingPlan:
    """Everything the kernels need besides the differentiable inputs (numpy, CPU).

    mode : geometry code; after : clamp after the solve; hold : steps per lateral record;
    start_conv : accumulate the state before each step (else after it);
    aux [2, n], xw [n], cst : see ``celerity``; down : downstream index (int32, −1 outlet);
    ro_idx [r] : readout reaches; blk [n_steps] : output row per accumulated state; rows :
    number of output rows; graph : the :class:`RoutingGraph` (for the GPU schedule);
    all_reaches : True when ro_idx is 0 … n−1 (None: check).
    """

    mode: int
    after: bool
    hold: int
    start_conv: bool
    aux: np.ndarray
    xw: np.ndarray
    cst: np.ndarray
    down: np.ndarray
    ro_idx: np.ndarray
    blk: np.ndarray
    rows: int
    graph: object = None
    all_reaches: bool | None = None

    @property
    def ro_all(self) -> bool:
        """True when every reach is read out in network order (``all_reaches`` when the
        caller knows it, else checked)."""
        if self.all_reaches is not None:
            return self.all_reaches
        n = self.down.size
        return self.ro_idx.size == n and bool((self.ro_idx == np.arange(n)).all())

    @property
    def n_steps(self) -> int:
        return int(self.blk.size)


def _np(x: torch.Tensor) -> np.ndarray:
    return x.detach().contiguous().numpy()


def _zeros_or(g, shape, like: np.ndarray) -> np.ndarray:
    if g is None:
        return np.zeros(shape, dtype=like.dtype)
    return np.ascontiguousarray(g.detach().cpu().numpy(), dtype=like.dtype)


def new_store(n_steps: int, n: int, dtype, keep: bool) -> np.ndarray:
    """State store [n_steps+1, n]; a single reused row (time stride 0) when not kept."""
    if keep:
        return np.empty((n_steps + 1, n), dtype=dtype)
    row = np.empty((1, n), dtype=dtype)
    return np.lib.stride_tricks.as_strided(row, shape=(n_steps + 1, n),
                                           strides=(0, row.strides[1]))


class MuskingumCungeFunction(torch.autograd.Function):
    """Route a window; see the module docstring for the arguments."""

    @staticmethod
    def forward(ctx, qlat, theta, q0, plan: RoutingPlan):
        ctx.set_materialize_grads(False)
        ctx.plan = plan
        keep = any(ctx.needs_input_grad[:3])
        if qlat.is_cuda:
            from . import kernels_cuda

            sums, qfinal, diag, store = kernels_cuda.forward(qlat, theta, q0, plan, keep)
            ctx.store = store
            ctx.save_for_backward(qlat, theta)
            ctx.mark_non_differentiable(diag)
            return sums, qfinal, diag
        ql, th, q0n = _np(qlat), _np(theta), _np(q0)
        n = q0n.size
        store = new_store(plan.n_steps, n, ql.dtype, keep)
        sums = np.zeros((plan.rows, plan.ro_idx.size), dtype=ql.dtype)
        qfinal = np.empty(n, dtype=ql.dtype)
        diag = np.zeros(6)
        with kernel_threads(n):
            kernels_cpu.forward_kernel(plan.mode, plan.after, ql, plan.hold, th, plan.aux,
                                       plan.xw, plan.down, q0n, plan.cst, plan.ro_idx,
                                       plan.ro_all, plan.blk, plan.start_conv, sums, store, qfinal,
                                       diag)
        ctx.store = store
        ctx.save_for_backward(qlat, theta)
        diag_t = torch.from_numpy(diag)
        ctx.mark_non_differentiable(diag_t)
        return torch.from_numpy(sums), torch.from_numpy(qfinal), diag_t

    @staticmethod
    def backward(ctx, gsums, gqfinal, _gdiag):
        qlat, theta = ctx.saved_tensors
        plan = ctx.plan
        if qlat.is_cuda:
            from . import kernels_cuda

            gql, gth, gq0 = kernels_cuda.backward(qlat, theta, ctx.store, plan, gsums, gqfinal)
            return gql, gth, gq0, None
        store = ctx.store
        n = store.shape[1]
        gs = _zeros_or(gsums, (plan.rows, plan.ro_idx.size), store)
        gf = _zeros_or(gqfinal, (n,), store)
        ql, th = _np(qlat), _np(theta)
        gth = np.empty_like(th)
        gql = np.empty_like(ql)
        gq0 = np.empty(n, dtype=store.dtype)
        with kernel_threads(n):
            kernels_cpu.backward_kernel(plan.mode, plan.after, ql, plan.hold, th, plan.aux,
                                        plan.xw, plan.down, store, plan.cst, plan.ro_idx,
                                        plan.blk, plan.start_conv, gs, gf, gth, gql, gq0)
        dev = qlat.device
        return (torch.from_numpy(gql).to(dev), torch.from_numpy(gth).to(dev),
                torch.from_numpy(gq0).to(dev), None)


class HotStartFunction(torch.autograd.Function):
    """Q0 = (I − N)⁻¹·max(q', q_min): discharge of the network in steady state with q'."""

    @staticmethod
    def forward(ctx, qlat0, down, qmin: float):
        q = qlat0.detach().cpu().contiguous().numpy()
        total = np.empty_like(q)
        kernels_cpu.hot_start_forward(q, down, q.dtype.type(qmin), total)
        ctx.q = q
        ctx.down = down
        ctx.qmin = qmin
        return torch.from_numpy(total).to(qlat0.device)

    @staticmethod
    def backward(ctx, g):
        gn = g.detach().cpu().contiguous().numpy().astype(ctx.q.dtype)
        gq = np.empty_like(ctx.q)
        kernels_cpu.hot_start_backward(ctx.q, ctx.down, ctx.q.dtype.type(ctx.qmin), gn, gq)
        return torch.from_numpy(gq).to(g.device), None, None
