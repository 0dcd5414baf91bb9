"""Forward-only simulation of unit batches over one time window (the domain-simulation core).

:func:`run_batch` runs every ensemble member of a trained run over a batch of units in
``torch.inference_mode`` (float32, no autograd graph): LSTM over the window from the carried
state, MLP once, the fused HBV kernels and the unit hydrograph once over the window. It returns
the requested outputs (ensemble means), the chunk's water-balance terms per unit and each
member's end state. :func:`simulate_window` runs all units in memory-sized batches and hands
every batch to a writer thread, so writing overlaps the next batch's compute.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from dhbv.simulation.variables import VARIABLES

BYTES_PER_FLOAT = 4
SAFETY = 2.0  # allocator slack and temporaries on top of the counted arrays


def unit_bytes(model, n_days: int, n_variables: int, n_inputs: int) -> int:
    """Estimated working memory (bytes) of one unit simulated for ``n_days`` days: inputs, LSTM
    gates and outputs, dynamic parameters, HBV full outputs and the output buffers."""
    a = model.arch
    per_day = (n_inputs + a.n_static_inputs + 3 + 6 * a.lstm_hidden + 6 * a.nmul + 40
               + 2 * n_variables)
    return int(SAFETY * BYTES_PER_FLOAT * per_day * n_days)


def batch_units(model, n_days: int, n_variables: int, n_inputs: int, memory_mb: float,
                cap: int | None = None, align: int = 1) -> int:
    """Units per batch within ``memory_mb`` (at most ``cap``), rounded down to a multiple of
    ``align`` (the store's unit chunk) when larger than it."""
    b = max(1, int(memory_mb * 2**20 // unit_bytes(model, n_days, n_variables, n_inputs)))
    if cap:
        b = min(b, int(cap))
    return b - b % align if b > align else b


def _malloc_trim():
    """glibc's ``malloc_trim`` (None elsewhere)."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Hand freed heap memory back to the system. Without it the heap of a long run keeps
    the high-water mark of every batch's scattered temporaries and the resident memory creeps
    up with the number of batches (tens of MiB per hundred batches); with it, it stays flat."""
    if _TRIM is not None:
        _TRIM(0)


@dataclass
class Timing:
    """Seconds spent in compute and in writing, and the unit-days simulated."""

    compute_s: float = 0.0
    write_s: float = 0.0
    unit_days: int = 0
    extra: dict = field(default_factory=dict)


#: full_output series of run_hbv2 that the outputs and the water balance read (sliced by lead)
_SERIES = ("runoff", "AET", "storage", "streamflow", "uh_in_transit", "LF", "clamp_water")


def _drop_lead(out: dict, lead: int, keys) -> dict:
    """``run_hbv2`` results without their first ``lead`` days (the router's spin-up): the
    series ``keys`` sliced, the start-of-window storage and UH transit taken at day lead − 1
    (the same values a run with ``lead`` more warm-up days reports)."""
    o = {k: out[k][lead:] for k in dict.fromkeys(tuple(keys) + _SERIES)}
    o["storage_start"] = out["storage"][lead - 1]
    o["uh_in_transit_start"] = out["uh_in_transit"][lead - 1]
    return o


def run_batch(models, inputs, stats, dynamic_inputs, warm: int, states, variables, device, *,
              lead: int = 0, runoff=None):
    """One batch of units: ``inputs`` a :class:`dhbv.simulation.inputs.DomainInputs` over the
    window (``warm`` leading spin-up days), ``states`` the members' start states (None = cold).

    ``runoff``: None, or an array [members, lead + T − warm, B] that receives each member's
    UH-routed runoff (mm d-1, the lateral inflow of channel routing) over the window's days
    and the last ``lead`` (≤ warm) spin-up days before them (the router's spin-up). The
    outputs and balance do not depend on it.

    Returns (outputs {name: [B, T − warm] float32}, balance {term: [B] mm}, member end states).
    """
    from dhbv.physics.balance import water_balance
    from dhbv.runner import prepare

    lead = int(lead)
    if not 0 <= lead <= int(warm) or (lead and runoff is None):
        raise ValueError(f"run_batch: lead {lead} must lie in [0, warm = {warm}] and comes "
                         "with a runoff array")
    prep = prepare(inputs, stats, dynamic_inputs)
    x_dyn = torch.from_numpy(prep.dyn_norm).to(device)
    x_sta = torch.from_numpy(prep.static_norm).to(device)
    forcing = torch.from_numpy(prep.forcing).to(device)
    up = torch.from_numpy(prep.uparea).to(device)
    el = torch.from_numpy(prep.elev).to(device)
    acc, bal, ends = {}, {}, []
    with torch.inference_mode():
        for k, model in enumerate(models):
            s0 = None if states is None else states[k].to(device)
            out = model(x_dyn, x_sta, forcing, up, el, warmup=int(warm) - lead,
                        full_output=True, state=s0)
            ends.append(out["state"].to("cpu"))
            if runoff is not None:
                runoff[k] = out["streamflow"].cpu().numpy()
            if lead:
                out = _drop_lead(out, lead, [VARIABLES[v][0] for v in variables])
            wb = water_balance(forcing, out, int(warm), routed=True)
            for v in variables:
                x = out[VARIABLES[v][0]]
                acc[v] = x if v not in acc else acc[v] + x
            for t in ("P", "AET", "Q", "dS", "exchange", "clamp_water"):
                x = wb[t].double()
                bal[t] = x if t not in bal else bal[t] + x
    n = len(models)
    outputs = {v: (x / n).T.contiguous().cpu().numpy() for v, x in acc.items()}
    return outputs, {t: (x / n).cpu().numpy() for t, x in bal.items()}, ends


def subset_units(inputs, u0: int, u1: int):
    """The :class:`DomainInputs` of units [u0, u1)."""
    sl = slice(u0, u1)
    return replace(inputs, unit_ids=inputs.unit_ids[sl], forcing=inputs.forcing[:, sl],
                   attributes=inputs.attributes[sl], uparea=inputs.uparea[sl],
                   elev=inputs.elev[sl], lat=inputs.lat[sl], lon=inputs.lon[sl],
                   area=inputs.area[sl])


def simulate_window(models, n_u: int, batch_inputs, stats, dynamic_inputs, warm: int, states,
                    variables, store, n_batch: int, device, bar=None,
                    timing: Timing | None = None, *, lead: int = 0, runoff=None):
    """All ``n_u`` units in batches of ``n_batch``, each batch written to ``store`` (a
    :class:`dhbv.simulation.store.ChunkStore`) by a writer thread while the next one runs.

    ``batch_inputs(u0, u1)``: the :class:`DomainInputs` of units [u0, u1) over the window (read
    or generated per batch, so memory does not grow with the number of units).
    ``runoff`` [members, lead + T − warm, n_u] (or None): filled with every unit's UH-routed
    runoff for channel routing (see :func:`run_batch`).
    Returns (member end states over all units, balance {term: [U] mm}, :class:`Timing`).
    """
    from dhbv.simulation.state import concat_units, select_units

    timing = timing or Timing()
    timing.extra.setdefault("inputs_s", 0.0)
    ends, bal = [[] for _ in models], {}

    def write(u0, u1, values):
        t0 = time.perf_counter()
        store.write(u0, u1, values)
        timing.write_s += time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = None
        for u0 in range(0, n_u, n_batch):
            u1 = min(u0 + n_batch, n_u)
            t0 = time.perf_counter()
            inputs = batch_inputs(u0, u1)
            n_days = inputs.forcing.shape[0] - int(warm)
            t1 = time.perf_counter()
            timing.extra["inputs_s"] += t1 - t0
            st = None if states is None else [select_units(s, np.arange(u0, u1)) for s in states]
            out, b, e = run_batch(models, inputs, stats, dynamic_inputs, warm, st, variables,
                                  device, lead=lead,
                                  runoff=None if runoff is None else runoff[:, :, u0:u1])
            timing.compute_s += time.perf_counter() - t1
            for k, s in enumerate(e):
                ends[k].append(s)
            for t, x in b.items():
                bal.setdefault(t, []).append(x)
            if pending is not None:
                pending.result()          # at most one batch waits for the disk
            pending = pool.submit(write, u0, u1, {**out, **{"balance_" + t: x
                                                            for t, x in b.items()}})
            timing.unit_days += (u1 - u0) * n_days
            del out, b, e, inputs
            release_memory()
            if bar is not None:
                bar.update((u1 - u0) * n_days)
        if pending is not None:
            pending.result()
    return ([concat_units(s) for s in ends], {t: np.concatenate(x) for t, x in bal.items()},
            timing)
