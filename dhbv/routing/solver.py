"""``route``: differentiable Muskingum–Cunge routing of lateral inflow through a network.

See docs/routing.md for the equations. One call routes a window of lateral-inflow records
(daily by default, each held for its ``record_seconds``) with routing step ``options.dt``;
it returns block means of the discharge of the readout reaches (daily means by default,
aligned by ``day_offset_hours``), the state to continue from and the run's diagnostics.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from dhbv.errors import DhbvInputError

from . import celerity, kernels_cpu
from .autograd import HotStartFunction, MuskingumCungeFunction, RoutingPlan
from .diagnostics import RoutingDiagnostics
from .geometry import ChannelParameters, kernel_parameters
from .graph import RoutingGraph
from .options import RoutingOptions

log = logging.getLogger(__name__)


@dataclass
class RoutingState:
    """Where a run stopped; pass it as ``state`` to continue exactly.

    discharge [n] : Q of every reach [m³/s]; pending [r] : sum of the readout discharges
    already accumulated into the unfinished block; pending_count : how many states that sum
    holds; to_skip : states still to skip before the first block starts.
    """

    discharge: torch.Tensor
    pending: torch.Tensor
    pending_count: int = 0
    to_skip: int = 0


@dataclass
class RoutingResult:
    """mean [B, r] : block means [m³/s] of the readout reaches; state; diagnostics."""

    mean: torch.Tensor
    state: RoutingState
    diagnostics: RoutingDiagnostics


def block_schedule(n_steps: int, to_skip: int, count: int, length: int):
    """(blk [n_steps] int32, n_blocks, new_count, new_to_skip) for the in-loop block means.

    State u (0-based among the window's accumulated states) goes to output row blk[u]:
    −1 while skipping, then consecutive blocks of ``length`` states counted on from ``count``
    states already pending; rows ≥ n_blocks (= n_blocks) collect the unfinished block.
    """
    if count and to_skip:
        raise DhbvInputError("state: a pending block and states to skip cannot coexist")
    u = np.arange(n_steps)
    pos = count + u - to_skip
    counted = max(n_steps - to_skip, 0)
    n_blocks = (count + counted) // length
    blk = np.where(u < to_skip, -1, np.minimum(pos // length, n_blocks)).astype(np.int32)
    return blk, n_blocks, (count + counted) % length, max(to_skip - n_steps, 0)


def _check_lateral(lateral: torch.Tensor, graph: RoutingGraph, lateral_ids) -> torch.Tensor:
    if lateral.dim() != 2:
        raise DhbvInputError(f"lateral_inflow: shape {tuple(lateral.shape)}, expected "
                             "[records, reaches]")
    if lateral_ids is not None:
        ids = np.asarray(lateral_ids, np.int64)
        if ids.size != lateral.shape[1]:
            raise DhbvInputError(f"lateral_ids: {ids.size} ids for {lateral.shape[1]} columns "
                                 "of lateral_inflow")
        pos = graph.index_of(ids)
        extra = ids[pos < 0]
        if extra.size:
            raise DhbvInputError(f"lateral_ids: {extra.size} reaches are not in the network "
                                 f"(e.g. {extra[:5].tolist()})")
        missing = np.setdiff1d(graph.ids, ids)
        if missing.size or np.unique(ids).size != ids.size:
            raise DhbvInputError(f"lateral_ids: lateral inflow is missing for {missing.size} "
                                 f"network reaches (e.g. {missing[:5].tolist()}) or has "
                                 "duplicate ids")
        perm = np.empty(graph.n, np.int64)
        perm[pos] = np.arange(ids.size)
        lateral = lateral[:, torch.as_tensor(perm, device=lateral.device)]
    elif lateral.shape[1] != graph.n:
        raise DhbvInputError(f"lateral_inflow: {lateral.shape[1]} columns for {graph.n} "
                             "network reaches (pass lateral_ids to match them by id)")
    return lateral


def _lateral_volumes(lateral: torch.Tensor, q_min: float) -> tuple[float, float]:
    """(Σ max(q', q_min), Σ (max(q', q_min) − q')) over all records and reaches [m³/s];
    raises for NaN, infinite or negative lateral inflow."""
    v = lateral.detach()
    if v.is_cuda:
        bad, neg = int((~torch.isfinite(v)).sum()), int((v < 0).sum())
        floored = v.double().clamp(min=q_min)
        total, added = float(floored.sum()), float((floored - v.double()).sum())
    else:
        bad, neg, total, added = kernels_cpu.lateral_stats(v.contiguous().numpy(), q_min)
    if bad:
        raise DhbvInputError(f"lateral_inflow: {bad} NaN or infinite values")
    if neg:
        raise DhbvInputError(f"lateral_inflow: {neg} negative values; lateral inflow must be "
                             ">= 0 m3/s")
    return total, added


def _readout(readout, n: int) -> np.ndarray:
    if readout is None:
        return _all_reaches(n)
    idx = np.atleast_1d(np.asarray(readout, np.int64))
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise DhbvInputError(f"readout: reach index out of range [0, {n})")
    return idx.astype(np.int32)


_ARANGE: dict = {}


def _all_reaches(n: int) -> np.ndarray:
    """0 … n−1 (int32, cached: the readout of every reach; never written)."""
    idx = _ARANGE.get(n)
    if idx is None:
        if len(_ARANGE) > 8:
            _ARANGE.clear()
        idx = _ARANGE[n] = np.arange(n, dtype=np.int32)
    return idx


def _muskingum_x(graph: RoutingGraph, x, default: float, np_dtype) -> np.ndarray:
    """Per-reach Muskingum X [n] in the kernels' dtype (the default cached on the graph)."""
    if x is None:
        cache = graph.__dict__.setdefault("_kernel_constants", {})
        key = ("x", default, np_dtype, graph.n)
        if key not in cache:
            xw = np.full(graph.n, default, dtype=np_dtype)
            cache[key] = xw
        return cache[key]
    xw = np.asarray(x, np.float64)
    if xw.shape != (graph.n,) or not ((xw >= 0) & (xw <= 0.5)).all():
        raise DhbvInputError("x: expected one Muskingum X in [0, 0.5] per reach")
    return xw.astype(np_dtype)


def hot_start(graph: RoutingGraph, lateral0: torch.Tensor, q_min: float = 1e-4) -> torch.Tensor:
    """Steady-state discharge [m³/s] of lateral inflow ``lateral0`` [n] (accumulated upstream;
    differentiable)."""
    return HotStartFunction.apply(lateral0, graph.downstream, q_min)


def route(graph: RoutingGraph, lateral: torch.Tensor, params: ChannelParameters, *,
          options: RoutingOptions = RoutingOptions(), record_seconds: float = 86400.0,
          average_seconds: float | None = None, day_offset_hours: float = 9.0,
          convention: str = "end", state: RoutingState | None = None, readout=None,
          x=None, lateral_ids=None) -> RoutingResult:
    """Route ``lateral`` [R, n] (m³/s, record r held for ``record_seconds``) through ``graph``.

    params : :class:`ChannelParameters` (n, q, p; or k for geometry "linear").
    average_seconds : length of the output blocks (default ``record_seconds``: daily means
        of daily records).
    day_offset_hours : hours skipped before the first block of a fresh run (aligns model
        days with the observation days; 9 h by default). Ignored when continuing a state.
    convention : "end" averages the states after each step (Q(t+1)), "start" those before
        it (Q(t); RAPID's convention).
    state : a previous result's state to continue from; ``None`` hot-starts from the first
        record (steady state, :func:`hot_start`).
    readout : reach indices to output (default: all reaches). Gauges read their own reach.
    x : per-reach Muskingum X (default ``options.x`` everywhere).
    lateral_ids : reach ids of the columns of ``lateral`` (matched to ``graph.ids``).
    """
    if convention not in ("end", "start"):
        raise DhbvInputError(f"convention={convention!r}: expected 'end' or 'start'")
    lateral = _check_lateral(lateral, graph, lateral_ids)
    inflow, floor_added = _lateral_volumes(lateral, options.q_min)
    dtype, device = lateral.dtype, lateral.device
    hold = options.steps_per(record_seconds, "record_seconds")
    length = options.steps_per(average_seconds or record_seconds, "average_seconds")
    n_steps = hold * lateral.shape[0]
    ro_idx = _readout(readout, graph.n)
    theta, aux = kernel_parameters(graph, params, options, dtype, device)
    if state is None:
        q0 = hot_start(graph, lateral[0], options.q_min)
        skip = options.steps_per(day_offset_hours * 3600.0, "day_offset_hours") \
            if day_offset_hours else 0
        pending = torch.zeros(ro_idx.size, dtype=dtype, device=device)
        count = 0
    else:
        q0, pending, count, skip = state.discharge, state.pending, state.pending_count, \
            state.to_skip
        if q0.shape != (graph.n,):
            raise DhbvInputError(f"state.discharge: shape {tuple(q0.shape)}, expected "
                                 f"({graph.n},)")
    blk, n_blocks, new_count, new_skip = block_schedule(n_steps, skip, count, length)
    np_dtype = np.float64 if dtype == torch.float64 else np.float32
    xw = _muskingum_x(graph, x, options.x, np_dtype)
    plan = RoutingPlan(
        mode=options.mode, after=options.clamp_after, hold=hold,
        start_conv=convention == "start",
        aux=np.ascontiguousarray(aux.detach().cpu().numpy(), dtype=np_dtype),
        xw=xw, cst=celerity.make_constants(options, np_dtype),
        down=graph.downstream, ro_idx=ro_idx,
        blk=blk, rows=n_blocks + 1, graph=graph, all_reaches=readout is None or None)
    sums, qfinal, diag = MuskingumCungeFunction.apply(lateral, theta, q0, plan)
    if count and n_steps:
        extra = torch.zeros_like(sums)
        extra[int(blk[0])] = pending
        sums = sums + extra
    mean = sums[:n_blocks] / length
    new_state = RoutingState(qfinal, sums[n_blocks], new_count, new_skip)
    d = diag.cpu().numpy()
    seconds = options.dt * hold  # per lateral record
    diagnostics = RoutingDiagnostics(
        n_steps=n_steps, n_reaches=graph.n, n_negative=int(d[0]), n_clamped=int(d[1]),
        clamp_volume_m3=float(d[2]), inflow_volume_m3=inflow * seconds,
        lateral_floor_volume_m3=floor_added * seconds, outflow_volume_m3=float(d[3]),
        storage_start_m3=float(d[4]), storage_end_m3=float(d[5]))
    # per solve: DEBUG only (training calls this thousands of times); the callers that end a
    # run (train_routing per epoch, route_flows, the chunked driver) log the summed
    # diagnostics once at INFO
    if log.isEnabledFor(logging.DEBUG):
        log.debug(diagnostics.summary())
    return RoutingResult(mean, new_state, diagnostics)
