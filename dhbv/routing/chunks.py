"""Routing in time chunks with the state carried exactly, written as CF zarr products.

A trained routing model (:mod:`dhbv.routing.training`) routes daily lateral inflow [m³ s-1]
through its network one time chunk at a time. A chunk is a run of lateral-inflow **records**
(days); it starts from the previous chunk's end state (discharge of every reach, the partial
sum of the unfinished day and where that day stands) and writes

* a CF-1.10 zarr store: the daily mean routed streamflow of every reach (dims reach, time) and,
  when gauges are given, of every gauge (dims gauge, time), and
* its end state (:func:`save_state`): a file that records the network, the routing model, the
  first record it continues with and the last day written, so that a state of another network,
  another model or another period is refused with a one-line error.

The first chunk hot-starts from the steady state of its first record ``warmup_days`` (the
model's option) before the chunk, as far as the lateral inflow reaches, and drops those days.
Daily means are aligned as in training (``day_offset_hours`` 9, docs/routing.md §3): day d is
the mean of hours 24d + 10 … 24d + 33 of the records, so the last day of a chunk is completed by
the next chunk's first record. A chunk therefore writes the days its records complete: the
first chunk its own days but the last, every later chunk the day before its first record up to
the day before its last one. Concatenated in order, the stores are the unchunked run (tested
to float32 round-off); the run's very last day needs a record after the period and is not
written. With ``day_offset_hours`` 0 a chunk writes exactly its own days.

Chunks are ``chunk_years`` years long from the period's start; the last one ends with the
period (and may be shorter). A chunk counts as done when both its store and its state exist;
stores are built under a temporary name and renamed into place, states written atomically.

* :func:`route_domain_chunk` — rule ``route_domain_chunk`` (one chunk);
* :func:`route_domain` — ``dhbv route --out-dir``: every missing chunk, then the summary;
* :func:`summarize_domain_routing` — rule of that name: water balance per chunk (CSV).
"""
from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dhbv.errors import DhbvInputError
from dhbv.simulation.store import consolidate
from dhbv.time_chunks import chunk_label, parse_chunk_label

from .solver import RoutingState, route

log = logging.getLogger(__name__)

STATE_FORMAT = "dhbv-routing-state/1"
#: hours of the next day's records in a daily mean, as in routing training (docs/routing.md §3)
DAY_OFFSET_HOURS = 9.0
REACH_CHUNK = 1024   # reaches per zarr chunk (a map of one day reads few chunks)
TIME_CHUNK = 92      # days per zarr chunk (a quarter)
TIME_UNITS = "days since 1970-01-01"
STANDARD_NAME = "water_volume_transport_in_river_channel"
#: diagnostics of a chunk kept in its store's attributes (m³, counts)
DIAGNOSTICS = ("n_steps", "n_negative", "n_clamped", "clamp_volume_m3", "inflow_volume_m3",
               "lateral_floor_volume_m3", "outflow_volume_m3", "storage_start_m3",
               "storage_end_m3")


# ----------------------------------------------------------------------------- identities
def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.hexdigest()[:16]


def model_id(run_dir) -> str:
    """Identity of a trained routing model: 16 hex digits of the SHA-256 of its weights and
    attribute statistics (what determines n, q and p)."""
    run_dir = Path(run_dir)
    files = [run_dir / "routing_model.pt", run_dir / "attribute_statistics.json"]
    for f in files:
        if not f.is_file():
            raise DhbvInputError(f"routing run directory {run_dir} lacks {f.name}; is it a "
                                 "trained routing model? Re-train it")
    return _digest(*(f.read_bytes() for f in files))


def network_id(graph) -> str:
    """Identity of a routing network: 16 hex digits of the SHA-256 of its reach ids,
    connectivity, lengths and slopes."""
    ids = np.zeros(graph.n, np.int64) if graph.ids is None else np.asarray(graph.ids, np.int64)
    return _digest(ids.tobytes(), np.asarray(graph.downstream, np.int64).tobytes(),
                   np.asarray(graph.length_m, np.float64).tobytes(),
                   np.asarray(graph.slope, np.float64).tobytes())


# ----------------------------------------------------------------------------- chunks
def routing_chunks(period, chunk_years: int) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Chunks [(start, end)] (inclusive record dates) of ``period``: ``chunk_years`` years each
    from its start, the last one ending with the period."""
    from dhbv.config import parse_period

    if period is None:
        raise DhbvInputError("routing.period: give [start, end] dates")
    a, b = (pd.Timestamp(d) for d in parse_period(list(period), "routing.period"))
    n = int(chunk_years)
    if n < 1 or n != chunk_years:
        raise DhbvInputError(f"routing.chunk_years must be a whole number >= 1, got {chunk_years}")
    out, s = [], a
    while s <= b:
        e = min(s + pd.DateOffset(years=n) - pd.Timedelta(days=1), b)
        out.append((s, e))
        s = e + pd.Timedelta(days=1)
    return out


def routing_chunk_labels(period, chunk_years: int) -> list[str]:
    """``YYYYMMDD-YYYYMMDD`` labels of :func:`routing_chunks`, in time order."""
    return [chunk_label(c) for c in routing_chunks(period, chunk_years)]


def previous_chunk_state(states_dir, labels, label) -> dict:
    """``{"previous_state": <states_dir>/<previous label>.pt}`` for a chunk after the first of
    ``labels``, else ``{}`` (the workflow's input of a chunk job)."""
    k = list(labels).index(label)
    return {"previous_state": f"{states_dir}/{labels[k - 1]}.pt"} if k else {}


def lateral_period(lateral, period=None) -> list[str]:
    """The routed period of a lateral-inflow file: ``period`` [start, end] checked to lie
    inside its records, or (None) its whole record [first, last]."""
    import xarray as xr

    from dhbv.config import parse_period

    p = Path(lateral)
    if not p.exists():
        raise DhbvInputError(f"lateral inflow file {p} does not exist; fix routing.domains.<d>."
                             "lateral")
    with xr.open_dataset(p) as ds:
        if "time" not in ds.coords or ds.sizes.get("time", 0) == 0:
            raise DhbvInputError(f"lateral inflow file {p}: no time axis")
        t = pd.DatetimeIndex(ds["time"].values)
    if period is None:
        return [str(t[0].date()), str(t[-1].date())]
    a, b = parse_period(list(period), "routing.period")
    if pd.Timestamp(a) < t[0] or pd.Timestamp(b) > t[-1]:
        raise DhbvInputError(f"routing.period {a}..{b} is not inside the records of the lateral "
                             f"inflow file {p} ({t[0].date()}..{t[-1].date()}); shorten it")
    return [a, b]


# ----------------------------------------------------------------------------- lateral inflow
class LateralFile:
    """Daily lateral inflow from a NetCDF file (m³ s-1 per reach; see
    :func:`dhbv.routing.training.read_lateral`)."""

    def __init__(self, path):
        self.path = str(path)
        self.name = self.path

    def read(self, graph, first, last, *, clip_first=False, what="the chunk"):
        from .training import read_lateral

        return read_lateral(self.path, graph, first, last, clip_first=clip_first, what=what)

    def first_record(self) -> pd.Timestamp | None:
        """Day of the file's first record (read lazily); None when the file cannot say (then
        :meth:`read` gives the one-line error)."""
        import xarray as xr

        try:
            with xr.open_dataset(self.path) as ds:
                return pd.Timestamp(ds["time"].values[0])
        except Exception:  # noqa: BLE001
            return None


class UnitRunoffLateral:
    """Lateral inflow from the unit runoff of domain-simulation chunk stores
    (:mod:`dhbv.simulation.store`, dims unit, time): ``variable`` [mm d-1] × the unit's
    ``area`` [km²] / 86.4 → m³ s-1, each unit catchment feeding the reach of the same id.

    One-line errors for unit ids that are not reaches of the network, network reaches without
    a unit, units without a positive area, days outside the stores, NaN or negative runoff."""

    def __init__(self, stores, variable: str = "runoff"):
        self.stores = [str(p) for p in stores]
        if not self.stores:
            raise DhbvInputError("unit runoff: no domain-simulation chunk stores given")
        self.variable = variable
        self.name = (self.stores[0] if len(self.stores) == 1
                     else f"{self.stores[0]} .. {Path(self.stores[-1]).name}")

    def first_record(self) -> pd.Timestamp | None:
        """Day of the stores' first record (from the first store alone: they are in time
        order); None when it cannot say (then :meth:`read` gives the one-line error)."""
        from dhbv.simulation.store import open_store

        try:
            with open_store(self.stores[0]) as ds:
                return pd.Timestamp(ds["time"].values[0])
        except Exception:  # noqa: BLE001
            return None

    def read(self, graph, first, last, *, clip_first=False, what="the chunk"):
        from dhbv.simulation.store import open_chunks

        from .training import LateralInflow

        ds = open_chunks(self.stores)
        name = f"unit runoff {self.name}"
        if self.variable not in ds or "area" not in ds.coords:
            raise DhbvInputError(f"{name}: no {self.variable!r} with a unit area; simulate the "
                                 "domain with that output first")
        try:
            ids = np.array([int(u) for u in ds["unit"].values], np.int64)
        except ValueError:
            raise DhbvInputError(f"{name}: unit ids are not reach ids (integers); the network "
                                 "needs one unit catchment per reach (COMID)") from None
        pos = graph.index_of(ids)
        if (pos < 0).any():
            extra = ids[pos < 0]
            raise DhbvInputError(f"{name}: {extra.size} units are not reaches of the network "
                                 f"(e.g. {extra[:5].tolist()}); simulate the network's units")
        missing = np.setdiff1d(graph.ids, ids)
        if missing.size or np.unique(ids).size != ids.size:
            raise DhbvInputError(f"{name}: no unit runoff for {missing.size} network reaches "
                                 f"(e.g. {missing[:5].tolist()}) or duplicate unit ids; "
                                 "simulate every unit of the network once")
        area = np.asarray(ds["area"].values, np.float64)
        if not (np.isfinite(area) & (area > 0)).all():
            raise DhbvInputError(f"{name}: unit area missing or not positive for "
                                 f"{int((~(np.isfinite(area) & (area > 0))).sum())} units; "
                                 "the unit attributes need the area (km2)")
        t = pd.DatetimeIndex(ds["time"].values)
        a = t[0] if first is None else pd.Timestamp(first)
        b = t[-1] if last is None else pd.Timestamp(last)
        if clip_first:
            a = max(a, t[0])
        if a < t[0] or b > t[-1] or b < a:
            raise DhbvInputError(f"{name}: {what} needs {a.date()}..{b.date()} but the stores "
                                 f"cover {t[0].date()}..{t[-1].date()}; simulate those days")
        i0, i1 = t.get_loc(a), t.get_loc(b) + 1
        order = np.empty(graph.n, np.int64)
        order[pos] = np.arange(ids.size)
        r = np.asarray(ds[self.variable].isel(time=slice(i0, i1)).transpose("time", "unit")
                       .values, np.float64)
        bad = ~np.isfinite(r) | (r < 0)
        if bad.any():
            k, j = np.argwhere(bad)[0]
            raise DhbvInputError(f"{name}: {int(bad.sum())} NaN or negative values (first: "
                                 f"unit {ids[j]} on {t[i0 + k].date()})")
        v = (r * (area / 86.4))[:, order]          # mm d-1 × km² → m³ s-1
        return LateralInflow(t[i0:i1], v, name)


def _lateral_source(lateral):
    return lateral if hasattr(lateral, "read") else LateralFile(lateral)


# ----------------------------------------------------------------------------- state files
@dataclass
class ChunkState:
    """End state of a routed chunk: the routing state of the whole network and, for gauges
    whose lateral inflow is scaled (FLOW_SCALE ≠ 1), of their own solve; ``valid_at`` is the
    first record it continues with, ``next_day`` the next daily mean it completes."""

    state: RoutingState
    gauge_state: RoutingState | None
    valid_at: pd.Timestamp
    next_day: pd.Timestamp


def _state_blob(s: RoutingState | None):
    if s is None:
        return None
    # clones: a row of the solver's block sums would drag its whole storage into the file
    return {"discharge": s.discharge.detach().cpu().clone(),
            "pending": s.pending.detach().cpu().clone(),
            "pending_count": int(s.pending_count), "to_skip": int(s.to_skip)}


def _state_of(b) -> RoutingState | None:
    if b is None:
        return None
    return RoutingState(b["discharge"], b["pending"], int(b["pending_count"]), int(b["to_skip"]))


def save_state(path, cs: ChunkState, *, network: str, model: str, chunk: str, dt: float,
               day_offset_hours: float, gauges) -> Path:
    """Write a chunk's end state atomically (torch file; see :class:`ChunkState`)."""
    from dhbv.io.atomic import atomic_path

    blob = {"format": STATE_FORMAT, "network_id": network, "model_id": model, "chunk": chunk,
            "valid_at": str(cs.valid_at.date()), "next_day": str(cs.next_day.date()),
            "last_day": str((cs.next_day - pd.Timedelta(days=1)).date()),
            "dt": float(dt), "day_offset_hours": float(day_offset_hours),
            "gauges": [str(g) for g in gauges], "state": _state_blob(cs.state),
            "gauge_state": _state_blob(cs.gauge_state)}
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return path


def load_state(path, *, network: str, model: str, valid_at, dt: float,
               day_offset_hours: float, gauges) -> ChunkState:
    """The end state in ``path``, checked against the network, the routing model, the first
    record of the chunk that continues it, the routing step and day alignment, and the scaled
    gauges: anything else is refused with a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise DhbvInputError(f"routing state file {path} not found; route the previous chunk "
                             "first")
    try:
        b = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file is the same user error
        b = None
    if not isinstance(b, dict) or b.get("format") != STATE_FORMAT:
        raise DhbvInputError(f"routing state file {path} is not a routing state file "
                             f"({STATE_FORMAT}); give the previous chunk's states/<chunk>.pt")
    if b["network_id"] != network:
        raise DhbvInputError(f"routing state file {path} belongs to network {b['network_id']}, "
                             f"not to this network {network}; route this network's previous "
                             "chunk first")
    if b["model_id"] != model:
        raise DhbvInputError(f"routing state file {path} was routed with routing model "
                             f"{b['model_id']}, not with this model {model}; route the earlier "
                             "chunks again with this model")
    want = str(pd.Timestamp(valid_at).date())
    if b["valid_at"] != want:
        raise DhbvInputError(f"routing state file {path} continues with the record of "
                             f"{b['valid_at']} (last routed day {b['last_day']}), but the chunk "
                             f"starts on {want}; use the previous chunk's state")
    if (b["dt"], b["day_offset_hours"]) != (float(dt), float(day_offset_hours)):
        raise DhbvInputError(f"routing state file {path} has routing step {b['dt']} s and day "
                             f"offset {b['day_offset_hours']} h, this run {dt} s and "
                             f"{day_offset_hours} h; route the earlier chunks again")
    if b["gauges"] != [str(g) for g in gauges]:
        raise DhbvInputError(f"routing state file {path} carries the scaled gauges "
                             f"{b['gauges']}, this run {list(gauges)}; route the earlier chunks "
                             "again with the same gauges")
    return ChunkState(_state_of(b["state"]), _state_of(b["gauge_state"]),
                      pd.Timestamp(b["valid_at"]), pd.Timestamp(b["next_day"]))


# ----------------------------------------------------------------------------- gauges
@dataclass
class GaugeSet:
    """Gauges read from the routed flow: ids, reach index, FLOW_SCALE, location, name."""

    ids: list
    reach: np.ndarray
    flow_scale: np.ndarray
    area_km2: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    names: list

    @property
    def scaled(self) -> np.ndarray:
        """Indices (into the gauges) of the gauges with FLOW_SCALE ≠ 1."""
        return np.flatnonzero(self.flow_scale != 1.0)


def read_gauge_set(gauge_table, gauges, graph, *, nested_scaled: bool = False) -> GaugeSet:
    """The gauges ``gauges`` of ``gauge_table`` on ``graph`` (checks of
    :func:`dhbv.routing.training.read_gauges`).

    ``nested_scaled``: allow a partial-area gauge (FLOW_SCALE ≠ 1) with another gauge
    downstream. Routing training refuses it (its scaled lateral inflow would reach the gauge
    below); a reader that corrects the gauge's own reach only (the δHBV2.0MC readout's
    Q̄ − (1 − w)·q̄') does not need the check."""
    from dhbv.network import read_gauge_table

    from .training import read_gauges

    table = read_gauge_table(gauge_table)
    if nested_scaled:
        try:
            gs = read_gauges(table.assign(FLOW_SCALE=1.0), gauges, graph)
        except DhbvInputError:
            read_gauges(gauge_table, gauges, graph)    # the same error, naming the file
            raise
        gs.flow_scale = table.set_index("STAID").loc[gs.ids, "FLOW_SCALE"].astype(float).values
    else:
        gs = read_gauges(gauge_table, gauges, graph)
    df = table.set_index("STAID").loc[gs.ids]
    nan = np.full(len(gs.ids), np.nan)
    col = lambda c: df[c].astype(float).values if c in df else nan  # noqa: E731
    names = [str(s) for s in df["STANAME"]] if "STANAME" in df else [""] * len(gs.ids)
    return GaugeSet(gs.ids, gs.reach, gs.flow_scale, gs.area_km2, col("LAT_GAGE"),
                    col("LNG_GAGE"), names)


# ----------------------------------------------------------------------------- one chunk
def _route_quiet(graph, lateral, params, opts, **kw):
    """``route`` without the solver's per-call log line (the chunk logs its diagnostics)."""
    solver_log = logging.getLogger("dhbv.routing.solver")
    level = solver_log.level
    solver_log.setLevel(logging.WARNING)
    try:
        with torch.no_grad():
            return route(graph, torch.as_tensor(lateral), params, options=opts, **kw)
    finally:
        solver_log.setLevel(level)


#: bytes held per reach and day of a routed piece: the float64 lateral inflow and its copy for
#: the gauges' own-unit scaling, the float64 daily means and their float32 copy, the solver's
#: buffers (about 48 B per reach-day measured by ``benchmarks/simulate_speed.py``)
ROUTE_BYTES_PER_REACH_DAY = 48


def piece_days(n_reaches: int, memory_mb: float) -> int:
    """Days of lateral inflow routed per call so that a piece holds about ``memory_mb`` MiB
    (at least one day); the chunk's daily means (float32) are kept whole."""
    return max(1, int(memory_mb * 2**20 // (ROUTE_BYTES_PER_REACH_DAY * max(1, n_reaches))))


def route_chunk(run_dir, lateral, chunk, out_store, state_out, *, first: bool,
                previous_state=None, gauge_table=None, gauges=(), network=None,
                attributes=None, day_offset_hours: float = DAY_OFFSET_HOURS, run=None,
                memory_mb: float = 2000) -> dict:
    """Route the records ``chunk`` = (start, end) of ``lateral`` with the trained routing
    model ``run_dir``; write the store ``out_store`` and the end state ``state_out``.

    lateral : NetCDF path (m³ s-1 per reach) or a source with ``read(graph, first, last, ...)``
        (e.g. :class:`UnitRunoffLateral`). first : hot start (after the model's
        ``warmup_days``, as far as the inflow reaches), else ``previous_state`` is the previous
        chunk's state file. gauge_table, gauges : gauges also written (dims gauge, time).
    network, attributes : apply the model to another network (both), else its own.
    run : an already loaded :class:`RoutingRun` (across chunks). memory_mb : the chunk is
    routed in pieces of :func:`piece_days` days carrying the state (the same values as one
    call). Returns the chunk's statistics (days written, reaches, seconds, diagnostics).
    """
    from .training import _applied, load_routing_run

    t0 = time.perf_counter()
    start, end = pd.Timestamp(chunk[0]), pd.Timestamp(chunk[1])
    label = chunk_label((start, end))
    run = run or load_routing_run(run_dir)
    graph, x = _applied(run, network, attributes)
    params = run.parameters(x)
    opts = run.options.routing_options()
    mid, nid = model_id(run_dir), network_id(graph)
    gs = read_gauge_set(gauge_table, gauges, graph) if gauges else None
    scaled = gs.scaled if gs is not None else np.zeros(0, np.int64)
    scaled_ids = [gs.ids[g] for g in scaled] if gs is not None else []
    source = _lateral_source(lateral)
    if not first and previous_state is None:
        raise DhbvInputError(f"routing chunk {label} is not the first: give the previous "
                             "chunk's state file")
    prev = None if first else load_state(
        previous_state, network=nid, model=mid, valid_at=start, dt=opts.dt,
        day_offset_hours=day_offset_hours, gauges=scaled_ids)
    kw = {"day_offset_hours": day_offset_hours}
    state, gstate = (None, None) if first else (prev.state, prev.gauge_state)
    span = piece_days(graph.n, memory_mb)
    q_parts, gq_parts, d, records = [], [], None, [None, None]
    a = start
    if first:  # the warm-up, as far as the inflow reaches (pieces of it, too)
        a -= pd.Timedelta(days=run.options.warmup_days)
        t0_inflow = source.first_record() if hasattr(source, "first_record") else None
        if t0_inflow is not None:
            a = min(max(a, t0_inflow), start)
    while a <= end:
        b = a + pd.Timedelta(days=min(span, (end - a).days + 1) - 1)
        if first and not q_parts:
            lat = source.read(graph, a, b, clip_first=True,
                              what=f"chunk {label} (with its warm-up)")
            if lat.time[0] > start:
                raise DhbvInputError(f"lateral inflow {source.name}: chunk {label} starts "
                                     f"before the inflow ({lat.time[0].date()}..); give "
                                     "another period")
        else:
            lat = source.read(graph, a, b, what=f"chunk {label}")
        records = [records[0] if records[0] is not None else lat.time[0], lat.time[-1]]
        r = _route_quiet(graph, lat.values, params, opts, state=state, **kw)
        state, d = r.state, r.diagnostics if d is None else d + r.diagnostics
        q = r.mean.numpy().astype(np.float32)                 # [days, reaches]
        if gs is not None:
            gq = q[:, gs.reach].copy()
            if scaled.size:
                v = lat.values.copy()
                v[:, gs.reach[scaled]] *= gs.flow_scale[scaled]
                rg = _route_quiet(graph, v, params, opts, readout=gs.reach[scaled],
                                  state=gstate, **kw)
                gq[:, scaled] = rg.mean.numpy()
                gstate = rg.state
            gq_parts.append(gq)
        q_parts.append(q)
        del lat, r
        a = b + pd.Timedelta(days=1)
    if first:
        next_day = records[0]
        warm = int((start - records[0]).days)
        if warm < run.options.warmup_days:
            log.info("chunk %s: %d warm-up days before %s (of %d; the inflow starts %s)", label,
                     warm, start.date(), run.options.warmup_days, records[0].date())
    else:
        next_day, warm = prev.next_day, 0
    q = np.concatenate(q_parts) if len(q_parts) > 1 else q_parts[0]
    del q_parts
    n_days = q.shape[0]
    days = pd.date_range(next_day, periods=n_days, freq="D")
    keep = days >= start if first else np.ones(n_days, bool)
    if not keep.any():
        raise DhbvInputError(f"routing chunk {label} completes no daily mean (a day's mean "
                             "needs the next day's record); give a longer chunk or period")
    if not keep.all():
        q = q[keep]
    gq = None
    if gs is not None:
        gq = np.concatenate(gq_parts)[keep]
    end_state = ChunkState(state, gstate, end + pd.Timedelta(days=1),
                           next_day + pd.Timedelta(days=n_days))
    compute_s = time.perf_counter() - t0
    attrs = {"source": f"lateral inflow {source.name}",
             "routing_model": str(Path(run_dir).resolve()), "routing_model_id": mid,
             "network_id": nid, "geometry": run.options.geometry, "routing_dt_s": float(opts.dt),
             "day_offset_hours": float(day_offset_hours),
             "day_alignment": (f"day d = mean of the routed discharge over hours "
                               f"24d+{day_offset_hours + opts.dt / 3600:g} .. "
                               f"24d+{day_offset_hours + 24:g} (UTC) of the records"),
             "chunk": label, "records": f"{records[0].date()}..{records[1].date()}",
             "warmup_days": warm, "compute_seconds": round(compute_s, 3),
             **{k: (int(getattr(d, k)) if k.startswith("n_") else float(getattr(d, k)))
                for k in DIAGNOSTICS},
             "history": f"{pd.Timestamp.now('UTC'):%Y-%m-%dT%H:%M}Z dhbv route_domain_chunk"}
    tmp = _write_store(out_store, days[keep], q.T, graph.ids, gs, None if gq is None else gq.T,
                       attrs)
    try:
        save_state(state_out, end_state, network=nid, model=mid, chunk=label, dt=opts.dt,
                   day_offset_hours=day_offset_hours, gauges=scaled_ids)
        _commit(tmp, Path(out_store))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("routing chunk %s: days %s..%s, %d reaches, %.2f s; %s", label,
             days[keep][0].date(), days[keep][-1].date(), graph.n, compute_s, d.summary())
    return {"chunk": label, "days": int(keep.sum()), "reaches": graph.n,
            "seconds": time.perf_counter() - t0, "diagnostics": d}


def _write_store(path, days, q, reach_ids, gs: GaugeSet | None, gq, attrs) -> Path:
    """Build the chunk store under a temporary name next to ``path``; return that name.

    q : [reaches, days] (network order; stored in ascending reach id, so that the reach
    coordinate is monotonic) and gq : [gauges, days] daily mean discharge [m³ s-1]."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    ds, enc = routed_dataset(days, q, reach_ids, gs, gq, attrs)
    try:
        ds.to_zarr(tmp, mode="w", consolidated=False, encoding=enc)
        consolidate(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def routed_dataset(days, q, reach_ids, gs: GaugeSet | None, gq, attrs):
    """(CF dataset, zarr encoding) of routed daily means: ``streamflow`` (reach, time) from
    q [reaches, days] (network order; stored in ascending reach id) and, with gauges ``gs``,
    ``gauge_streamflow`` (gauge, time) from gq [gauges, days], both m³ s-1; ``attrs`` are
    added to the global attributes. Shared by the routing chunks and the routed domain
    simulation (:mod:`dhbv.simulation.routed`)."""
    import xarray as xr
    import zarr

    n_r, n_t = q.shape
    order = np.argsort(np.asarray(reach_ids, np.int64), kind="stable")   # monotonic coordinate
    flow = {"units": "m3 s-1", "standard_name": STANDARD_NAME, "cell_methods": "time: mean"}
    ds = xr.Dataset(
        {"streamflow": (("reach", "time"), q[order].astype(np.float32), {
            **flow, "long_name": "daily mean routed streamflow at the reach outlet"})},
        coords={"reach": ("reach", np.asarray(reach_ids, np.int64)[order],
                          {"long_name": "reach id (MERIT COMID)", "cf_role": "timeseries_id"}),
                "time": ("time", pd.DatetimeIndex(days),
                         {"standard_name": "time", "long_name": "time", "axis": "T"})},
        attrs={"Conventions": "CF-1.10", "featureType": "timeSeries",
               "title": "Muskingum-Cunge routed daily streamflow (dhbv.routing)", **attrs})
    comp = zarr.codecs.BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle")
    enc = {"time": {"units": TIME_UNITS, "calendar": "proleptic_gregorian", "dtype": "int32"},
           "streamflow": {"chunks": (min(REACH_CHUNK, n_r), min(TIME_CHUNK, n_t)),
                          "compressors": (comp,)}}
    if gs is not None:
        ds = ds.assign_coords(
            gauge=("gauge", np.array(gs.ids, dtype=object), {"long_name": "USGS station id"}),
            gauge_reach=("gauge", np.asarray(reach_ids, np.int64)[gs.reach],
                         {"long_name": "reach id (MERIT COMID) of the gauge"}),
            gauge_lat=("gauge", gs.lat, {"standard_name": "latitude", "units": "degrees_north"}),
            gauge_lon=("gauge", gs.lon, {"standard_name": "longitude", "units": "degrees_east"}),
            drainage_area=("gauge", gs.area_km2, {"long_name": "gauge drainage area",
                                                  "units": "km2"}),
            flow_scale=("gauge", gs.flow_scale, {
                "long_name": "share of the gauge reach's lateral inflow upstream of the gauge",
                "units": "1"}))
        ds["gauge_streamflow"] = (("gauge", "time"), gq.astype(np.float32), {
            **flow, "long_name": "daily mean routed streamflow at the gauge",
            "coordinates": "gauge_lat gauge_lon gauge_reach"})
        enc["gauge_streamflow"] = {"chunks": (len(gs.ids), n_t), "compressors": (comp,)}
    return ds, enc


def _commit(tmp: Path, path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- entry points
def route_domain_chunk(run_dir, lateral, chunk: str, out_store, state_out, *, previous_state,
                       first=None, period=None, chunk_years=None, gauge_table=None, gauges=(),
                       network=None, attributes=None, memory_mb: float = 2000) -> Path:
    """Rule ``route_domain_chunk``: the chunk labelled ``chunk`` (``YYYYMMDD-YYYYMMDD``) from
    ``previous_state`` (None for the first).

    With ``period`` and ``chunk_years`` the label must be a chunk of that period (the first
    chunk is found from it); without them (the workflow: a longer period then does not rerun
    the chunks done) the label gives the dates and ``first`` says whether it hot-starts."""
    if period is not None:
        labels = routing_chunk_labels(period, chunk_years)
        if chunk not in labels:
            raise DhbvInputError(f"chunk {chunk} is not a chunk of the period {period[0]}.."
                                 f"{period[1]} in {chunk_years}-year chunks ({labels[0]}, ...)")
        first = labels.index(chunk) == 0
    elif first is None:
        raise DhbvInputError(f"chunk {chunk}: say whether it is the first chunk (first=) or "
                             "give the period and chunk_years")
    route_chunk(run_dir, lateral, parse_chunk_label(chunk), out_store, state_out,
                first=bool(first), previous_state=previous_state, gauge_table=gauge_table,
                gauges=gauges, network=network, attributes=attributes, memory_mb=memory_mb)
    return Path(out_store)


def chunk_paths(out_dir, period, chunk_years):
    """[(chunk, store, state)] of a chunked routing run under ``out_dir``."""
    out = Path(out_dir)
    return [(c, out / "chunks" / f"{chunk_label(c)}.zarr", out / "states" / f"{chunk_label(c)}.pt")
            for c in routing_chunks(period, chunk_years)]


def route_domain(run_dir, lateral, out_dir, *, period=None, chunk_years: int = 1,
                 gauge_table=None, gauges=(), network=None, attributes=None,
                 progress: bool = True, memory_mb: float = 2000) -> pd.DataFrame:
    """``dhbv route --out-dir``: every chunk of ``period`` (None: the lateral file's whole
    record) not yet done (store and state both present), in order, into ``out_dir``/chunks and
    ``out_dir``/states, then the summary ``out_dir``/summary.csv; each chunk routed in pieces
    that hold about ``memory_mb`` MiB (:func:`piece_days`). Returns the summary."""
    from .training import load_routing_run

    if period is None:
        if hasattr(lateral, "read"):
            raise DhbvInputError("route_domain: give the period of this lateral inflow")
    if not hasattr(lateral, "read"):
        period = lateral_period(lateral, period)
    paths = chunk_paths(out_dir, period, chunk_years)
    run = load_routing_run(run_dir)
    todo = [k for k, (_, z, s) in enumerate(paths) if not (z.exists() and s.exists())]
    first_todo = todo[0] if todo else len(paths)
    if 0 < first_todo < len(paths):
        log.info("resuming at chunk %d of %d (%s)", first_todo + 1, len(paths),
                 chunk_label(paths[first_todo][0]))
    bar = None
    if progress and first_todo < len(paths):
        from tqdm.auto import tqdm

        bar = tqdm(total=len(paths) - first_todo, desc="routing", unit="chunk")
    try:
        for k in range(first_todo, len(paths)):
            c, z, s = paths[k]
            st = route_chunk(run_dir, lateral, c, z, s, first=k == 0,
                             previous_state=paths[k - 1][2] if k else None,
                             gauge_table=gauge_table, gauges=gauges, network=network,
                             attributes=attributes, run=run, memory_mb=memory_mb)
            if bar is not None:
                bar.set_postfix_str(f"{chunk_label(c)}, "
                                    f"{st['days'] * st['reaches'] / st['seconds']:,.0f} "
                                    "reach-days/s")
                bar.update()
    finally:
        if bar is not None:
            bar.close()
    return summarize_domain_routing([z for _, z, _ in paths], Path(out_dir) / "summary.csv")


def summarize_domain_routing(stores, summary_csv, echo=print, group=None) -> pd.DataFrame:
    """Rule ``summarize_domain_routing``: one row per chunk store (time order) and a total row
    → ``summary_csv``; prints the throughput and the network's water balance.

    Columns: chunk, first_day, last_day, days, reaches, seconds, the solver's counts
    (n_steps, n_negative, n_clamped) and volumes [m³] (inflow, lateral floor, outflow at the
    outlets, storage at the start and end, clamp volume) and residual = inflow − outflow −
    Δstorage (the clamps' water plus the storage redefinition of nonlinear MC,
    docs/routing.md §5). The first chunk's volumes include its warm-up. Consecutive stores
    must continue each other day by day (one-line error otherwise). ``group``: the zarr group
    holding them (``routed`` in the chunk stores of a routed domain simulation).
    """
    from dhbv.io.standard import write_text_atomic
    from dhbv.simulation.store import open_store

    rows, prev_last = [], None
    for p in stores:
        with open_store(p, group=group) as ds:
            t = pd.DatetimeIndex(ds["time"].values)
            a = ds.attrs
            if prev_last is not None and t[0] != prev_last + pd.Timedelta(days=1):
                raise DhbvInputError(f"routing store {p} starts on {t[0].date()}, not the day "
                                     f"after the previous store ({prev_last.date()}); route the "
                                     "chunks again in order")
            prev_last = t[-1]
            rows.append({"chunk": a.get("chunk", Path(p).stem), "first_day": str(t[0].date()),
                         "last_day": str(t[-1].date()), "days": len(t),
                         "reaches": int(ds.sizes["reach"]),
                         "seconds": float(a.get("compute_seconds", np.nan)),
                         **{k: a[k] for k in DIAGNOSTICS}})
    if not rows:
        raise DhbvInputError("no routing chunk stores to summarise; route the chunks first")
    t = pd.DataFrame(rows)
    tot = {"chunk": "total", "first_day": t["first_day"].iloc[0],
           "last_day": t["last_day"].iloc[-1], "days": int(t["days"].sum()),
           "reaches": int(t["reaches"].iloc[0]), "seconds": float(t["seconds"].sum()),
           "storage_start_m3": float(t["storage_start_m3"].iloc[0]),
           "storage_end_m3": float(t["storage_end_m3"].iloc[-1])}
    for k in DIAGNOSTICS:
        if k not in tot:
            tot[k] = t[k].sum()
    t = pd.concat([t, pd.DataFrame([tot])], ignore_index=True)
    t["residual_m3"] = (t["inflow_volume_m3"] - t["outflow_volume_m3"]
                        - (t["storage_end_m3"] - t["storage_start_m3"]))
    write_text_atomic(t.to_csv(index=False, float_format="%.10g"), summary_csv)
    s = t.iloc[-1]
    rate = s["days"] * s["reaches"] / s["seconds"] if s["seconds"] > 0 else float("nan")
    echo(f"routing: {int(s['reaches'])} reaches, {len(t) - 1} chunks, {s['first_day']}.."
         f"{s['last_day']} ({int(s['days'])} days) in {s['seconds']:.1f} s "
         f"({rate:,.0f} reach-days/s)")
    echo(f"water balance (m3): inflow {s['inflow_volume_m3']:.6g} − outflow "
         f"{s['outflow_volume_m3']:.6g} − Δstorage "
         f"{s['storage_end_m3'] - s['storage_start_m3']:.6g} = {s['residual_m3']:.4g} "
         f"({s['residual_m3'] / max(s['inflow_volume_m3'], 1e-300):.2e} of inflow; clamps "
         f"{s['clamp_volume_m3']:.4g}, {int(s['n_negative'])} negative solves)")
    return t


__all__ = ["ChunkState", "GaugeSet", "LateralFile", "UnitRunoffLateral", "load_state", "model_id",
           "network_id", "read_gauge_set", "route_chunk", "route_domain", "route_domain_chunk",
           "routed_dataset", "routing_chunk_labels", "routing_chunks", "save_state",
           "summarize_domain_routing"]
