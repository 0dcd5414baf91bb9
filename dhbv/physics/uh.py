"""Within-unit gamma unit hydrograph (docs/model.md#unit-hydrograph).

The kernel is static per unit: shape a = max(route_a, 0) + 0.1, scale θ = max(route_b, 0) + 0.5
days. Weights are either gamma densities at day mid-points (paper) or gamma-CDF differences
over each day (``integrated``); both are renormalised to sum to 1 over the kernel length, so the
UH conserves volume and only delays it. Convolution is causal with zero history.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gamma_shape_scale(route_a: torch.Tensor, route_b: torch.Tensor):
    """Shape a (–) and scale θ (days) from the physical UH parameters (each [B])."""
    return F.relu(route_a) + 0.1, F.relu(route_b) + 0.5


def _regularized_lower_gamma(a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """P(a, x) by its power series, differentiable in a and x (float64 inside).

    P(a, x) = x^a e^{-x} / Γ(a+1) · Σ_n x^n / ((a+1)…(a+n)). The terms peak near n ≈ x, so
    x_max + 10·sqrt(x_max) + 30 terms reach double precision. torch.special.gammainc has no
    gradient with respect to a, hence this series.
    """
    a64, x64 = a.double(), x.double()
    x_max = float(x64.detach().max()) if x64.numel() else 0.0
    n_terms = int(x_max + 10.0 * math.sqrt(x_max) + 30)
    term = torch.ones_like(x64 * a64)
    total = term
    for n in range(1, n_terms):
        term = term * x64 / (a64 + n)
        total = total + term
    safe_x = torch.where(x64 > 0, x64, torch.ones_like(x64))
    log_pref = a64 * torch.log(safe_x) - x64 - torch.lgamma(a64 + 1.0)
    value = torch.exp(log_pref) * total
    return torch.where(x64 > 0, value, torch.zeros_like(value))


def gamma_uh_weights(route_a: torch.Tensor, route_b: torch.Tensor, length: int = 15,
                     weights: str = "midpoint") -> torch.Tensor:
    """UH weights [B, length] (sum 1 per unit) from physical route_a, route_b (each [B]).

    ``midpoint``: w_k ∝ t_k^(a−1) exp(−t_k/θ), t_k = k + 0.5 (the normalising constant
    Γ(a)θ^a cancels in the renormalisation).
    ``integrated``: w_k ∝ P(a, (k+1)/θ) − P(a, k/θ).
    """
    if length < 1:
        raise ValueError(f"uh_length must be >= 1, got {length}")
    a, theta = gamma_shape_scale(route_a, route_b)
    a, theta = a[:, None], theta[:, None]
    if weights == "midpoint":
        t = torch.arange(length, dtype=a.dtype, device=a.device)[None, :] + 0.5
        dens = t ** (a - 1.0) * torch.exp(-t / theta) / (torch.exp(torch.lgamma(a)) * theta ** a)
        w = dens
    elif weights == "integrated":
        edges = torch.arange(length + 1, dtype=torch.float64, device=a.device)[None, :]
        cdf = _regularized_lower_gamma(a.double(), edges / theta.double())
        w = (cdf[:, 1:] - cdf[:, :-1]).to(a.dtype)
    else:
        raise ValueError(f"uh_weights must be 'midpoint' or 'integrated', got {weights!r}")
    return w / w.sum(dim=1, keepdim=True)


class _UhConvolveCpu(torch.autograd.Function):
    """Numba direct convolution on CPU (forward and adjoint), unit-major [B, T] internally.

    The kernels read and write [B, T] strided views of the time-major [T, B] tensors, so
    there are no layout copies.
    """

    @staticmethod
    def forward(ctx, q, w):
        from .kernels_cpu import uh_backward_kernel, uh_forward_kernel  # noqa: F401

        qb = q.detach().t()
        wd = w.detach()
        y = torch.empty(q.shape, dtype=q.dtype)  # [T, B], written through a [B, T] view
        uh_forward_kernel(qb.numpy(), wd.numpy(), y.t().numpy())
        ctx.save_for_backward(q, w)
        return y

    @staticmethod
    def backward(ctx, gy):
        from .kernels_cpu import uh_backward_kernel

        q, w = ctx.saved_tensors
        gq = torch.empty(q.shape, dtype=q.dtype)
        gw = torch.empty(w.shape, dtype=w.dtype)
        uh_backward_kernel(q.detach().t().numpy(), w.detach().numpy(),
                           gy.detach().t().numpy(), gq.t().numpy(), gw.numpy())
        return gq, gw


def uh_convolve(q: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Causal convolution q_r(t) = Σ_k w_k q(t − k), zero before t = 0.

    q : [T, B] (mm/d); w : [B, L]. Returns [T, B]. On CPU (float32/float64, same dtype) a
    numba direct convolution with its adjoint; elsewhere a grouped conv1d (one group per
    unit) with left zero padding.
    """
    if (q.device.type == "cpu" and w.device.type == "cpu" and q.dtype == w.dtype
            and q.dtype in (torch.float32, torch.float64) and q.dim() == 2 and w.dim() == 2
            and q.shape[1] == w.shape[0] and q.shape[0] > 0 and w.shape[1] > 0):
        return _UhConvolveCpu.apply(q, w)
    n_steps, n_units = q.shape
    length = w.shape[1]
    x = q.t().unsqueeze(0)  # [1, B, T]
    x = F.pad(x, (length - 1, 0))
    kernel = torch.flip(w, dims=[1]).unsqueeze(1)  # [B, 1, L]
    y = F.conv1d(x, kernel, groups=n_units)
    return y[0].t()


class _MidpointWeightsCpu(torch.autograd.Function):
    """Numba midpoint gamma UH weights from normalised parameters, with their adjoint."""

    @staticmethod
    def forward(ctx, sigma, consts, length):
        from .kernels_unit import uh_midpoint_weights

        w = torch.empty((sigma.shape[0], length), dtype=sigma.dtype)
        uh_midpoint_weights(sigma.detach().numpy(), consts, w.numpy())
        ctx.save_for_backward(sigma)
        ctx.consts = consts
        return w

    @staticmethod
    def backward(ctx, g_w):
        from .kernels_unit import uh_midpoint_weights_grad

        (sigma,) = ctx.saved_tensors
        g_sigma = torch.empty_like(sigma)
        uh_midpoint_weights_grad(sigma.detach().numpy(), ctx.consts,
                                 g_w.detach().contiguous().numpy(), g_sigma.numpy())
        return g_sigma, None, None


def midpoint_weights_cpu(sigma: torch.Tensor, consts, length: int) -> torch.Tensor:
    """``midpoint`` UH weights [B, length] (sum 1 per unit) from the normalised UH parameters
    σ [B, 2] (CPU, float32/float64), in one compiled call; differentiable with respect to σ.

    ``consts``: ``kernels_unit.uh_constants`` (descaling of route_a and route_b and the gamma
    offsets of :func:`gamma_shape_scale`). Same weights as :func:`gamma_uh_weights` of the
    descaled parameters, evaluated in float64 (float32 results within an ulp or two).
    """
    if length < 1:
        raise ValueError(f"uh_length must be >= 1, got {length}")
    return _MidpointWeightsCpu.apply(sigma, consts, int(length))


def uh_route_no_grad(q: torch.Tensor, w: torch.Tensor, history=None, comp: int = -1):
    """UH-routed q [T, B] (mm/d) on CPU without autograd: as :func:`uh_convolve` of the
    history-extended series, in one compiled call, bit-identical to it.

    history : None (zero history) or [L − 1, B, 3] unrouted Q0, Q1, Q2 (mm/d) of the days
    before the first day, oldest first; comp: the history's component (0–2), or −1 for their
    sum (the total runoff). q, w and history share a float dtype on CPU.
    """
    from .kernels_unit import uh_route

    hist = (torch.empty((0, q.shape[1], 3), dtype=q.dtype) if history is None else history)
    y = torch.empty(q.shape, dtype=q.dtype)
    uh_route(q.detach().numpy(), hist.detach().numpy(), comp, w.detach().numpy(), y.numpy())
    return y


def uh_in_transit(q: torch.Tensor, q_routed: torch.Tensor) -> torch.Tensor:
    """Runoff volume inside the UH at the end of each day, [T, B] (mm).

    Equals Σ_{s ≤ t} (q(s) − q_r(s)); with weights summing to 1 it is the part of past runoff
    that the kernel has not yet released.
    """
    return torch.cumsum(q - q_routed, dim=0)


def uh_pending(history: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Runoff volume inside the UH at the end of the day before a run, [B] (mm).

    history : [L − 1, B] unrouted runoff (mm/d) of the L − 1 preceding days, oldest first;
    w : [B, L]. The runoff of j + 1 days ago has released Σ_{k ≤ j} w_k of itself, so the
    volume still pending is Σ_j q(−1 − j)·(1 − Σ_{k ≤ j} w_k), consistent with
    :func:`uh_in_transit`.
    """
    n = history.shape[0]
    if n == 0:
        return torch.zeros(w.shape[0], dtype=w.dtype, device=w.device)
    unreleased = 1.0 - torch.cumsum(w, dim=1)[:, :n]  # [B, n]
    return (history.flip(0) * unreleased.t()).sum(dim=0)


def uh_mean_delay(route_a: torch.Tensor, route_b: torch.Tensor) -> torch.Tensor:
    """Mean delay a·θ (days) of the untruncated gamma UH, [B]."""
    a, theta = gamma_shape_scale(route_a, route_b)
    return a * theta


__all__ = ["gamma_shape_scale", "gamma_uh_weights", "midpoint_weights_cpu", "uh_convolve",
           "uh_in_transit", "uh_pending", "uh_mean_delay", "uh_route_no_grad"]
