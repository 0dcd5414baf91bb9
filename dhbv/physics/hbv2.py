"""HBV 2.0 public API (docs/model.md#daily-step, docs/model.md#options-and-corrections): parameters, options and ``run_hbv2``.

``run_hbv2`` maps network outputs in [0, 1] to physical parameters, resolves the elevation
switch and the nominal regional exchange, runs the daily time loop (fused numba kernels with a
hand-written adjoint, or the plain-torch reference) and convolves the nmul-mean runoff with the
per-unit gamma unit hydrograph (UH). Precision follows ``forcing.dtype`` (float32 by default,
float64 for tests). On CPU the parameter maps and UH weights are compiled kernels
(``kernels_unit``), and without gradients the whole forward is one compiled parallel call
(``inference_cpu``), with the same values as the autograd path.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from dhbv.errors import DhbvInputError

from . import reference, uh
from .checks import check_inputs, check_summary
from .reference import NEAR_ZERO, OUTPUT_NAMES, STATE_NAMES

STATIC_PARAMETERS = ("FC", "K1", "K2", "LP", "PERC", "UZL", "TT", "CFMAX", "CFR", "CWH", "C",
                     "RT", "AC")
DYNAMIC_PARAMETERS = ("BETA", "K0", "BETAET")
UH_PARAMETERS = ("route_a", "route_b")  # gamma UH shape and scale

PARAMETER_RANGES: dict[str, tuple[float, float]] = {
    "BETA": (1.0, 6.0),        # –
    "FC": (50.0, 1000.0),      # mm
    "K0": (0.05, 0.9),         # 1/d
    "K1": (0.01, 0.5),         # 1/d
    "K2": (0.001, 0.2),        # 1/d
    "LP": (0.2, 1.0),          # –
    "PERC": (0.0, 10.0),       # mm/d
    "UZL": (0.0, 100.0),       # mm
    "TT": (-2.5, 2.5),         # °C
    "CFMAX": (0.5, 10.0),      # mm/°C/d
    "CFR": (0.0, 0.1),         # –
    "CWH": (0.0, 0.2),         # –
    "BETAET": (0.3, 5.0),      # –
    "C": (0.0, 1.0),           # 1/d
    "RT": (0.0, 20.0),         # mm/d
    "AC": (0.0, 2500.0),       # km²
    "route_a": (0.0, 2.9),     # –
    "route_b": (0.0, 6.5),     # d
}

INITIAL_STATE = 0.001  # mm, cold start of every store
HIGH_ELEVATION = 2000.0  # m, TT_eff switch of the paper
HIGH_ELEVATION_TT = 4.0  # °C
SMOOTH_ELEVATION_BAND = 200.0  # m, width of the blend for elev_threshold="smooth"
EXCHANGE_AREA_SWITCH = 2500.0  # km²

_CHOICES = {
    "exchange": ("paper", "off", "bounded"),
    "exchange_form": ("paper", "smooth"),
    "elev_threshold": ("paper", "none", "smooth"),
    "uh_weights": ("midpoint", "integrated"),
    "backend": ("auto", "fused", "reference"),
}


@dataclass(frozen=True)
class HbvOptions:
    """Physics options; the defaults reproduce the published model (docs/model.md#options-and-corrections).

    exchange: "paper" (nominal LF, loss truncated by the SLZ floor), "off" (LF = 0) or
        "bounded" (losses limited to the water in SLZ, so no water is created by the floor).
    exchange_form: "paper" (two branches switching at Ac = 2500 km²) or "smooth"
        (LF = RT·tanh((Ac − AC)/1000) for all Ac).
    elev_threshold: "paper" (TT_eff = 4 °C at elev >= 2000 m), "none" (learned TT everywhere)
        or "smooth" (smoothstep blend from TT to 4 °C over 1900–2100 m).
    uh_length: UH kernel length (days). uh_weights: "midpoint" densities or "integrated"
        gamma-CDF differences; both renormalised to sum 1.
    backend: "auto" (fused kernels: numba on CPU, CUDA kernels for CUDA tensors),
        "fused" or "reference" (plain torch autograd).
    """

    exchange: str = "paper"
    exchange_form: str = "paper"
    elev_threshold: str = "paper"
    uh_length: int = 15
    uh_weights: str = "midpoint"
    backend: str = "auto"

    def __post_init__(self):
        for field, allowed in _CHOICES.items():
            value = getattr(self, field)
            if value not in allowed:
                raise DhbvInputError(f"HbvOptions.{field}: {value!r} is not one of {allowed}")
        if not isinstance(self.uh_length, int) or self.uh_length < 1:
            raise DhbvInputError(f"HbvOptions.uh_length: {self.uh_length!r} must be an integer "
                                 ">= 1 (days)")


def descale(sigma: torch.Tensor, name: str) -> torch.Tensor:
    """Physical value lo + σ·(hi − lo) of parameter ``name`` from σ in [0, 1]."""
    lo, hi = PARAMETER_RANGES[name]
    return sigma * (hi - lo) + lo


def effective_tt(tt: torch.Tensor, elev: torch.Tensor, mode: str) -> torch.Tensor:
    """Rain/snow/melt threshold TT_eff (°C) [B, nmul] from TT [B, nmul] and elevation [B] (m)."""
    e = elev[:, None].to(tt.dtype)
    if mode == "paper":
        return torch.where(e >= HIGH_ELEVATION, torch.full_like(tt, HIGH_ELEVATION_TT), tt)
    if mode == "none":
        return tt
    s = torch.clamp((e - (HIGH_ELEVATION - SMOOTH_ELEVATION_BAND / 2)) / SMOOTH_ELEVATION_BAND,
                    0.0, 1.0)
    w = s * s * (3.0 - 2.0 * s)
    return tt + w * (HIGH_ELEVATION_TT - tt)


def nominal_exchange(rt: torch.Tensor, ac: torch.Tensor, uparea: torch.Tensor,
                     options: HbvOptions) -> torch.Tensor:
    """Nominal regional exchange LF (mm/d, + = gain) [B, nmul] (docs/model.md#regional-groundwater-exchange).

    rt (mm/d), ac (km²) are [B, nmul]; uparea is the upstream area Ac (km²) [B].
    """
    if options.exchange == "off":
        return torch.zeros_like(rt)
    a = uparea[:, None].to(rt.dtype)
    if options.exchange_form == "smooth":
        return rt * torch.tanh((a - ac) / 1000.0)
    small = torch.clamp((a - ac) / 1000.0, min=-1.0, max=1.0) * rt
    large = torch.exp(torch.clamp(-(a - EXCHANGE_AREA_SWITCH) / 50.0, min=-10.0, max=0.0)) * rt
    return torch.where(a < EXCHANGE_AREA_SWITCH, small, large)


_TT_MODES = {"paper": 0, "none": 1, "smooth": 2}  # kernels_unit.TT_*


def _lf_mode(options: HbvOptions) -> int:
    """``kernels_unit.LF_*`` mode of the nominal exchange for ``options``."""
    if options.exchange == "off":
        return 0
    return 2 if options.exchange_form == "smooth" else 1


@lru_cache(maxsize=8)
def _static_map_arrays(dtype: torch.dtype):
    """(lo [13], scale [13], constants) of the static maps in ``dtype`` (numpy, read-only)."""
    from .kernels_unit import map_constants

    np_dtype = torch.empty((), dtype=dtype).numpy().dtype
    lo = np.array([PARAMETER_RANGES[n][0] for n in STATIC_PARAMETERS], dtype=np_dtype)
    scale = np.array([PARAMETER_RANGES[n][1] - PARAMETER_RANGES[n][0]
                      for n in STATIC_PARAMETERS], dtype=np_dtype)
    k = map_constants(np_dtype, HIGH_ELEVATION, HIGH_ELEVATION_TT, SMOOTH_ELEVATION_BAND,
                      1000.0, EXCHANGE_AREA_SWITCH, 50.0, -10.0)
    for a in (lo, scale, k):
        a.flags.writeable = False
    return lo, scale, k


@lru_cache(maxsize=8)
def _uh_map_array(dtype: torch.dtype):
    """``kernels_unit.uh_constants`` of the UH parameters in ``dtype`` (numpy, read-only)."""
    from .kernels_unit import uh_constants

    np_dtype = torch.empty((), dtype=dtype).numpy().dtype
    (lo_a, hi_a), (lo_b, hi_b) = (PARAMETER_RANGES[n] for n in UH_PARAMETERS)
    u = uh_constants(np_dtype, lo_a, hi_a - lo_a, lo_b, hi_b - lo_b, 0.1, 0.5)
    u.flags.writeable = False
    return u


class _CoreStaticCpu(torch.autograd.Function):
    """Numba static parameter maps (``kernels_unit.static_core``) with their adjoint."""

    @staticmethod
    def forward(ctx, static, elev, uparea, tt_mode, lf_mode):
        from .kernels_unit import N_CORE, static_core

        lo, scale, k = _static_map_arrays(static.dtype)
        core = torch.empty((static.shape[0], static.shape[2], N_CORE), dtype=static.dtype)
        static_core(static.detach().numpy(), elev.numpy(), uparea.numpy(), lo, scale, k,
                    tt_mode, lf_mode, core.numpy())
        ctx.save_for_backward(static)
        ctx.args = (elev, uparea, tt_mode, lf_mode)
        return core

    @staticmethod
    def backward(ctx, g_core):
        from .kernels_unit import static_core_grad

        (static,) = ctx.saved_tensors
        elev, uparea, tt_mode, lf_mode = ctx.args
        lo, scale, k = _static_map_arrays(static.dtype)
        g_static = torch.empty(static.shape, dtype=static.dtype)
        static_core_grad(static.detach().numpy(), elev.numpy(), uparea.numpy(), lo, scale, k,
                         tt_mode, lf_mode, g_core.detach().numpy(), g_static.numpy())
        return g_static, None, None, None, None


def core_static_cpu(static: torch.Tensor, elev: torch.Tensor, uparea: torch.Tensor,
                    options: HbvOptions) -> torch.Tensor:
    """Core static array [B, nmul, 12] (``reference.CORE_STATIC``: the descaled static
    parameters with TT_eff (°C) and the nominal exchange LF (mm/d)) from static [B, 13, nmul]
    in [0, 1], elev [B] (m) and uparea [B] (km²), on CPU in one compiled call.

    The same float operations as ``descale``, :func:`effective_tt` and
    :func:`nominal_exchange` (the exponential of the large-area exchange branch within an ulp
    of torch's); differentiable with respect to ``static`` (elevation and area are data).
    """
    elev = elev.detach().to(static.dtype)
    uparea = uparea.detach().to(static.dtype)
    return _CoreStaticCpu.apply(static, elev, uparea, _TT_MODES[options.elev_threshold],
                                _lf_mode(options))


def _kernel_cells() -> int:
    """Cells per chunk of the vectorised CPU kernel (the largest nmul it runs)."""
    from .kernels_cpu import CH

    return CH


def _select_backend(options: HbvOptions, device: torch.device) -> str:
    if options.backend == "reference":
        return "reference"
    if device.type == "cuda":
        from . import kernels_cuda

        return "fused" if kernels_cuda.available() else "reference"
    return "fused"


#: the dynamic parameters' affine map (lo, scale) that the fused kernels apply
_DYN_AFFINE = (tuple(PARAMETER_RANGES[n][0] for n in DYNAMIC_PARAMETERS),
               tuple(PARAMETER_RANGES[n][1] - PARAMETER_RANGES[n][0] for n in DYNAMIC_PARAMETERS))


def _as_dtype(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """x in ``dtype`` (x itself when it already is)."""
    return x if x.dtype == dtype else x.to(dtype)


def _needs_grad(*tensors) -> bool:
    """True when autograd records operations on any of ``tensors`` (None allowed)."""
    return torch.is_grad_enabled() and any(x is not None and x.requires_grad for x in tensors)


def _core_static_torch(static, elev, uparea, options):
    """(core static [B, nmul, 12], LF_nominal [B, nmul]) by torch operations (any device)."""
    # one broadcast affine map for all static parameters (same roundings as ``descale``, but a
    # single op forward and backward instead of 13 selects, 26 arithmetic ops and their grads)
    dtype, device = static.dtype, static.device
    s_lo = torch.tensor([PARAMETER_RANGES[n][0] for n in STATIC_PARAMETERS], dtype=dtype,
                        device=device)[:, None]
    s_scale = torch.tensor([PARAMETER_RANGES[n][1] - PARAMETER_RANGES[n][0]
                            for n in STATIC_PARAMETERS], dtype=dtype, device=device)[:, None]
    sp = dict(zip(STATIC_PARAMETERS, (static * s_scale + s_lo).unbind(1)))
    tt_eff = effective_tt(sp["TT"], elev, options.elev_threshold)
    lf_nominal = nominal_exchange(sp["RT"], sp["AC"], uparea, options)
    core_static = torch.stack([sp["FC"], sp["K1"], sp["K2"], sp["LP"], sp["PERC"], sp["UZL"],
                               tt_eff, sp["CFMAX"], sp["CFR"], sp["CWH"], sp["C"], lf_nominal],
                              dim=-1)
    return core_static, lf_nominal


def _final_uh_history(out, history, n_hist):
    """Unrouted Q0, Q1, Q2 (mm/d) of the last n_hist days, [n_hist, B, 3], oldest first;
    days before the run come from ``history`` ([n_hist, B, 3]; None: zero)."""
    n_t, n_b = out[0].shape
    # only the last L − 1 days are kept (a full-length stack would triple a CONUS chunk)
    recent = torch.stack([out[k][max(n_t - n_hist, 0):] for k in (1, 2, 3)], dim=-1)
    if history is None:
        history = torch.zeros((n_hist, n_b, 3), dtype=recent.dtype, device=recent.device)
    return torch.cat([history, recent])[len(recent):]


def _uh_weights_torch(uh_params, options):
    """UH weights [B, L] by torch operations (any device, both weight modes)."""
    route_a = descale(uh_params[:, 0], "route_a")
    route_b = descale(uh_params[:, 1], "route_b")
    return uh.gamma_uh_weights(route_a, route_b, options.uh_length, options.uh_weights)


def _run_time_loop(forcing, dyn, static, uparea, elev, states0, options, backend, full,
                   check_args):
    """The daily time loop with autograd: (outputs, final states [5, B, nmul], nominal LF
    [B, nmul] (mm/d)); outputs in ``reference.OUTPUT_NAMES`` order, each [T, B].

    ``check_args``: the arguments of ``check_inputs`` when the fused CPU kernel's input
    summary replaces the value checks, else None.
    """
    if backend == "fused" and forcing.device.type == "cpu":
        core_static = core_static_cpu(static, elev, uparea, options)
        lf_nominal = core_static[..., 11]
    else:
        core_static, lf_nominal = _core_static_torch(static, elev, uparea, options)
    p, tc, pet = forcing[..., 0], forcing[..., 1], forcing[..., 2]
    bounded = options.exchange == "bounded"
    if backend == "reference":
        dyn_phys = torch.stack([descale(dyn[:, :, i, :], name)
                                for i, name in enumerate(DYNAMIC_PARAMETERS)], dim=-1)
        out, final_states = reference.run_reference(p, tc, pet, dyn_phys, core_static, states0,
                                                    bounded, NEAR_ZERO, full)
        return out, final_states, lf_nominal
    from .autograd import run_fused_series

    # descaling of the dynamic parameters is fused into the kernels (σ·(hi − lo) + lo, same
    # roundings as ``descale``); dyn is read in place as a [T, B, nmul, 3] view
    summary = []
    *out, final_states = run_fused_series(p, tc, pet, dyn.permute(0, 1, 3, 2), core_static,
                                          states0, bounded, NEAR_ZERO, full, _DYN_AFFINE,
                                          summary=summary)
    if check_args is not None and not (summary and check_summary(*summary[0])):
        check_inputs(*check_args)  # raises the one-line error naming the field
    return out, final_states, lf_nominal

def run_hbv2(forcing, dyn, static, uh_params, uparea, elev, *, warmup=0,
             options=HbvOptions(), full_output=False, initial_states=None,
             initial_uh_history=None) -> dict:
    """Run HBV 2.0 with nmul components and the per-unit gamma UH.

    Parameters
    ----------
    forcing : [T, B, 3] raw P (mm/d), mean T (°C), PET (mm/d). Its dtype sets the precision.
    dyn : [T, B, 3, nmul] in [0, 1], order ``DYNAMIC_PARAMETERS``.
    static : [B, 13, nmul] in [0, 1], order ``STATIC_PARAMETERS``.
    uh_params : [B, 2] in [0, 1], unit-hydrograph (UH) parameters, order ``UH_PARAMETERS``.
    uparea : [B] upstream drainage area Ac (km²). elev : [B] mean elevation (m).
    warmup : leading days simulated (states and UH history) but cut from every output.
    initial_states : optional [5, B, nmul] (mm) in ``STATE_NAMES`` order, e.g. a previous
        ``final_states``; default cold start 0.001 mm.
    initial_uh_history : optional [L − 1, B, 3] unrouted Q0, Q1, Q2 (mm/d, nmul mean) of the
        L − 1 days before the first day, oldest first (L = ``options.uh_length``), e.g. a
        previous ``final_uh_history``; default none (runoff 0 before the first day). With both
        initial arguments from a previous run, a run split in time equals the unsplit run.

    Returns
    -------
    dict with ``streamflow`` (UH-routed, mm/d), ``runoff`` (unrouted nmul mean, mm/d), ``AET``
    (mm/d), each [T − warmup, B], ``final_states`` [5, B, nmul] (mm) and ``final_uh_history``
    [L − 1, B, 3] (mm/d, unrouted Q0, Q1, Q2 of the last L − 1 days, oldest first). With ``full_output``
    also: ``Q0``/``Q1``/``Q2`` (unrouted) and ``Q0_routed``/``Q1_routed``/``Q2_routed``,
    ``PET``, ``recharge``, ``excess``, ``tosoil``, ``percolation``, ``capillary`` (mm/d),
    ``evapfactor`` (–), ``LF`` (realised exchange into SLZ, mm/d, + = gain), ``clamp_water``
    (water created by the SM/SLZ floors at ET and capillary rise, mm/d), the nmul-mean states
    ``SNOWPACK``/``SWE``, ``MELTWATER``, ``SM``, ``SUZ``, ``SLZ`` at the end of each day (mm),
    ``storage`` (sum of the five, mm), ``storage_start`` [B] (mm, at the start of the reported
    window), ``uh_in_transit`` [T − warmup, B] and ``uh_in_transit_start`` [B] (mm),
    ``LF_nominal`` [B] (mm/d, nmul mean), ``uh_weights`` [B, L] and ``BFI`` [B] (%, over the
    reported window).
    """
    check_args = (forcing, dyn, static, uh_params, uparea, elev, warmup, len(STATIC_PARAMETERS),
                  len(DYNAMIC_PARAMETERS), initial_states, initial_uh_history, options.uh_length)
    # the fused CPU kernel summarises the forcing and dyn values as it reads them, so the
    # separate pass over them is skipped (any failure is re-checked in full: same messages)
    kernel_checks = (isinstance(forcing, torch.Tensor) and isinstance(dyn, torch.Tensor)
                     and forcing.device.type == "cpu" and dyn.dim() == 4
                     and dyn.shape[3] <= _kernel_cells()
                     and _select_backend(options, forcing.device) == "fused")
    if kernel_checks:
        try:
            check_inputs(*check_args, values=False)
        except DhbvInputError:
            check_inputs(*check_args)  # the first failure in the full check's order
            raise
    else:
        check_inputs(*check_args)
    dtype = forcing.dtype if forcing.dtype in (torch.float32, torch.float64) else torch.float32
    device = forcing.device
    forcing, dyn, static, uh_params = (_as_dtype(x, dtype)
                                       for x in (forcing, dyn, static, uh_params))
    n_t, n_b = forcing.shape[:2]
    n_mul = dyn.shape[3]

    backend = _select_backend(options, device)
    fused_cpu = backend == "fused" and device.type == "cpu"
    if initial_states is None:
        states0 = torch.full((5, n_b, n_mul), INITIAL_STATE, dtype=dtype, device=device)
    else:
        states0 = _as_dtype(initial_states, dtype)
    n_hist = options.uh_length - 1
    history = None if initial_uh_history is None else _as_dtype(initial_uh_history, dtype)
    bounded = options.exchange == "bounded"
    full = bool(full_output)
    if fused_cpu and not _needs_grad(forcing, dyn, static, uh_params, uparea, elev,
                                     initial_states, initial_uh_history):
        # inference: one compiled call, no autograd bookkeeping (same values as with it)
        from .inference_cpu import forward_no_grad_cpu

        w = None if options.uh_weights == "midpoint" else _uh_weights_torch(uh_params, options)
        fwd = forward_no_grad_cpu(forcing, dyn, static, uh_params, uparea, elev, states0,
                                  history, bounded, full, options.uh_length, w,
                                  _TT_MODES[options.elev_threshold], _lf_mode(options),
                                  _static_map_arrays(dtype), _uh_map_array(dtype), _DYN_AFFINE)
        out = fwd.out
        final_states, streamflow, w = fwd.final_states, fwd.streamflow, fwd.uh_weights
        lf_nominal = fwd.core_static[..., 11]
        final_uh_history = fwd.final_uh_history
        if kernel_checks and not check_summary(*fwd.summary):
            check_inputs(*check_args)  # raises the one-line error naming the field

        def route(q, k):
            """UH-route q [T, B] with the history of component k."""
            return uh.uh_route_no_grad(q, w, history, k)
    else:
        out, final_states, lf_nominal = _run_time_loop(
            forcing, dyn, static, uparea, elev, states0, options, backend, full,
            check_args if kernel_checks else None)
        if fused_cpu and options.uh_weights == "midpoint":
            w = uh.midpoint_weights_cpu(uh_params, _uh_map_array(dtype), options.uh_length)
        else:
            w = _uh_weights_torch(uh_params, options)

        def route(q, k):
            """UH-route q [T, B] with the history of component k (None = total runoff)."""
            if history is None:
                return uh.uh_convolve(q, w)
            h = history.sum(dim=-1) if k is None else history[..., k]
            return uh.uh_convolve(torch.cat([h, q]), w)[n_hist:]

        streamflow = route(out[0], None)
        final_uh_history = _final_uh_history(out, history, n_hist)

    runoff = out[0]
    result = {
        "streamflow": streamflow[warmup:] if warmup else streamflow,
        "runoff": runoff[warmup:] if warmup else runoff,
        "AET": out[4][warmup:] if warmup else out[4],
        "final_states": final_states,
        "final_uh_history": final_uh_history,
    }
    if not full:
        return result
    pet = forcing[..., 2]

    named = dict(zip(OUTPUT_NAMES, out))
    for k, name in enumerate(("Q0", "Q1", "Q2")):
        result[name] = named[name][warmup:]
        result[name + "_routed"] = route(named[name], k)[warmup:]
    result["PET"] = pet[warmup:]
    for name in ("recharge", "excess", "tosoil", "percolation", "capillary", "evapfactor", "LF",
                 "clamp_water") + STATE_NAMES:
        result[name] = named[name][warmup:]
    result["SWE"] = result["SNOWPACK"]
    storage = sum(named[name] for name in STATE_NAMES)
    result["storage"] = storage[warmup:]
    result["storage_start"] = (storage[warmup - 1] if warmup > 0
                               else states0.sum(dim=0).mean(dim=-1))
    if history is None:
        transit0 = torch.zeros(n_b, dtype=dtype, device=device)  # nothing in the UH at the start
    else:
        transit0 = uh.uh_pending(history.sum(dim=-1), w)
    in_transit = transit0 + uh.uh_in_transit(runoff, streamflow)
    result["uh_in_transit"] = in_transit[warmup:]
    result["uh_in_transit_start"] = in_transit[warmup - 1] if warmup > 0 else transit0
    result["LF_nominal"] = lf_nominal.mean(dim=-1)
    result["uh_weights"] = w
    q2r = result["Q2_routed"]
    result["BFI"] = 100.0 * q2r.sum(dim=0) / (result["streamflow"].sum(dim=0) + NEAR_ZERO)
    return result
