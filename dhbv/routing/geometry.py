"""Channel parameters → per-reach kernel parameters, in torch (differentiable; docs/routing.md §2).

The kernels evaluate K(Q) of every reach at every step from a few per-reach numbers that do
not change in time. This module computes them from the learned channel parameters (Manning n,
width coefficient p, width exponent q; or the travel time K itself for linear Muskingum) and
the fixed reach data (length L, slope S), so that torch autograd carries the kernels'
gradients with respect to those numbers back to n, q and p.

Wide channel (Bindas et al. 2024): with T = p·d^q, A ≈ p·d^(q+1)/(q+1) and R ≈ d, Manning
gives d = [Q·n·(q+1)/(p·√S)]^(3/(5+3q)), v = (1/n)·d^(2/3)·√S, c = (5/3)·v and K = L/c, i.e.
ln K = θ0 − θ1·ln Q with θ1 = 2/(5+3q) and
θ0 = ln(3L/5) − ln(√S/n) − θ1·ln(n(q+1)/(p√S)); the velocity bounds become bounds on K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from numba import njit

from dhbv.errors import DhbvInputError

#: the wide-channel and trapezoid celerity factor of the Manning velocity (c = 5/3·v)
KINEMATIC_FACTOR = 5.0 / 3.0


@dataclass
class ChannelParameters:
    """Per-reach channel parameters (tensors of shape (n,) or scalars).

    n : Manning roughness [s m^-1/3]; q : width exponent [-] (T = p·d^q);
    p : width coefficient [m^(1−q)] (21 when not learned); k : travel time [s] (geometry
    "linear" only, instead of n/q/p).
    """

    n: torch.Tensor | float | None = None
    q: torch.Tensor | float | None = None
    p: torch.Tensor | float = 21.0
    k: torch.Tensor | float | None = None


def _count_bad_cpu(t: torch.Tensor, allow_zero: bool) -> int:
    v = t.detach()
    if v.dtype not in (torch.float32, torch.float64) or not v.is_contiguous():
        v = v.double().contiguous()
    return int(_count_bad(v.numpy(), allow_zero))


@njit(cache=True, error_model="numpy")
def _count_bad(x, allow_zero):
    """Number of NaN/infinite values and of values below 0 (``allow_zero``) or <= 0."""
    bad = 0
    for i in range(x.size):
        v = x[i]
        if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
            bad += 1
    return bad


def _vec(value, name: str, n: int, dtype, device) -> torch.Tensor:
    """``value`` as a tensor of shape (n,) (a scalar is expanded, not copied), validated in
    one pass: finite and > 0 (q: >= 0)."""
    if value is None:
        raise DhbvInputError(f"{name}: required by this routing geometry")
    t = torch.as_tensor(value, dtype=dtype, device=device)
    if t.dim() == 0:
        v = float(t)
        if not math.isfinite(v) or v < 0 or (v == 0 and name != "q"):
            what = "negative" if name == "q" else "zero, negative"
            raise DhbvInputError(f"{name}: {n} reaches have a {what} or NaN value")
        return t.expand(n)
    if t.shape != (n,):
        raise DhbvInputError(f"{name}: shape {tuple(t.shape)}, expected ({n},) or a scalar")
    if t.is_cuda:
        d = t.detach()
        bad = int((~torch.isfinite(d) | (d < 0 if name == "q" else d <= 0)).sum())
    else:
        bad = _count_bad_cpu(t, name == "q")
    if bad:
        what = "negative" if name == "q" else "zero, negative"
        raise DhbvInputError(f"{name}: {bad} reaches have a {what} or NaN value")
    return t


def _reach_constants(graph, options, dtype, device) -> dict:
    """Per-reach constants of ``graph`` that do not depend on the learned parameters
    (√S with the slope floor, logs of lengths, the K bounds), cached on the graph per
    (geometry, slope floor, velocity bounds, dtype, device). The cache is keyed on the
    identity of ``graph.length_m`` and ``graph.slope``: replace those arrays, do not edit
    them in place."""
    key = (options.geometry, options.slope_min, options.v_bounds, dtype, str(device),
           id(graph.length_m), id(graph.slope))
    cache = graph.__dict__.setdefault("_kernel_constants", {})
    if key in cache:
        return cache[key]
    vmin, vmax = options.v_bounds
    length = np.asarray(graph.length_m, np.float64)
    root_s = np.sqrt(np.maximum(graph.slope, options.slope_min))
    n = length.size
    if options.geometry == "linear":
        c = {"aux": np.stack([np.zeros(n), np.full(n, np.inf)])}
    elif options.geometry == "wide":
        lc = length / KINEMATIC_FACTOR
        with np.errstate(divide="ignore"):
            kmax = lc / vmin if vmin > 0 else np.full(n, np.inf)
        # θ0 = ln(lc) − ln(√S/n) − θ1·ln(n(q+1)/(p√S)) = A + ln n − θ1·(ln n + ln(1+q) − ln p − B)
        c = {"A": np.log(lc) - np.log(root_s), "B": np.log(root_s),
             "aux": np.stack([lc / vmax, kmax])}
    else:
        lfac = length / KINEMATIC_FACTOR if options.geometry == "trapezoid" else length
        c = {"root_s": root_s, "aux": np.stack([lfac, np.zeros(n)])}
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    out = {k: torch.as_tensor(v.astype(np_dtype), device=device) for k, v in c.items()}
    if len(cache) > 8:
        cache.clear()
    cache[key] = out
    return out


def kernel_parameters(graph, params: ChannelParameters, options, dtype=torch.float32,
                      device="cpu"):
    """(theta [m, n], aux [2, n]) for the kernels; theta carries the autograd graph.

    aux holds non-differentiable per-reach constants: for the power law (K) bounds
    [K_min, K_max] [s], for the trapezoids the length factor (3L/5 or L) [m]. The parts that
    depend only on the network (√S, logs of the lengths, aux) are computed once per graph and
    options (``_reach_constants``).
    """
    n = graph.n
    c = _reach_constants(graph, options, dtype, device)
    aux = c["aux"]
    if options.geometry == "linear":
        k = _vec(params.k, "k", n, dtype, device)
        theta = torch.stack([torch.log(k), torch.zeros_like(k)])
        return theta, aux
    mann = _vec(params.n, "n", n, dtype, device)
    expo = _vec(params.q, "q", n, dtype, device)
    width = _vec(params.p, "p", n, dtype, device)
    if options.geometry == "wide":
        e = 2.0 / (5.0 + 3.0 * expo)
        ln_n = torch.log(mann)
        inner = ln_n + torch.log1p(expo) - torch.log(width) - c["B"]
        theta = torch.stack([c["A"] + ln_n - e * inner, e])
        return theta, aux
    root_s = c["root_s"]
    qe = expo + options.q_eps
    e3 = 3.0 / (5.0 + 3.0 * qe)
    a = torch.log(mann * (qe + 1.0) / (width * root_s + options.manning_eps))
    theta = torch.stack([a, e3, width, qe, root_s / mann])
    return theta, aux
