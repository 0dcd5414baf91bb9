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

from dataclasses import dataclass

import numpy as np
import torch

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


def _vec(value, name: str, n: int, dtype, device) -> torch.Tensor:
    if value is None:
        raise DhbvInputError(f"{name}: required by this routing geometry")
    t = torch.as_tensor(value, dtype=dtype, device=device)
    if t.dim() == 0:
        t = t.expand(n)
    if t.shape != (n,):
        raise DhbvInputError(f"{name}: shape {tuple(t.shape)}, expected ({n},) or a scalar")
    bad = ~torch.isfinite(t.detach())
    if name != "q":
        bad |= t.detach() <= 0
    else:
        bad |= t.detach() < 0
    if bool(bad.any()):
        what = "negative" if name == "q" else "zero, negative"
        raise DhbvInputError(f"{name}: {int(bad.sum())} reaches have a {what} or NaN value")
    return t


def kernel_parameters(graph, params: ChannelParameters, options, dtype=torch.float32,
                      device="cpu"):
    """(theta [m, n], aux [2, n]) for the kernels; theta carries the autograd graph.

    aux holds non-differentiable per-reach constants: for the power law (K) bounds
    [K_min, K_max] [s], for the trapezoids the length factor (3L/5 or L) [m].
    """
    n = graph.n
    length = torch.as_tensor(graph.length_m, dtype=dtype, device=device)
    slope = torch.as_tensor(np.maximum(graph.slope, options.slope_min), dtype=dtype,
                            device=device)
    root_s = torch.sqrt(slope)
    vmin, vmax = options.v_bounds
    if options.geometry == "linear":
        k = _vec(params.k, "k", n, dtype, device)
        theta = torch.stack([torch.log(k), torch.zeros_like(k)])
        aux = torch.stack([torch.zeros_like(length), torch.full_like(length, float("inf"))])
        return theta, aux
    mann = _vec(params.n, "n", n, dtype, device)
    expo = _vec(params.q, "q", n, dtype, device)
    width = _vec(params.p, "p", n, dtype, device)
    if options.geometry == "wide":
        e = 2.0 / (5.0 + 3.0 * expo)
        a = torch.log(mann * (expo + 1.0) / (width * root_s))
        lc = length / KINEMATIC_FACTOR
        theta = torch.stack([torch.log(lc) - torch.log(root_s / mann) - e * a, e])
        with np.errstate(divide="ignore"):
            aux = torch.stack([lc / vmax, lc / vmin if vmin > 0 else torch.full_like(lc, np.inf)])
        return theta, aux
    qe = expo + options.q_eps
    e3 = 3.0 / (5.0 + 3.0 * qe)
    a = torch.log(mann * (qe + 1.0) / (width * root_s + options.manning_eps))
    theta = torch.stack([a, e3, width, qe, root_s / mann])
    lfac = length / KINEMATIC_FACTOR if options.geometry == "trapezoid" else length
    aux = torch.stack([lfac, torch.zeros_like(lfac)])
    return theta, aux
