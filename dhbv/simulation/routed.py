"""Channel routing of a domain simulation with the run's own learned Muskingum–Cunge (δHBV2.0MC).

When the trained run's readout is ``muskingum_cunge`` and the simulated units are the reaches
of a river network (a MERIT domain: the topology stage's ``network.nc``), every chunk of the
domain simulation also routes the UH-routed runoff of **all** its units through the whole
network, after the unit batches, exactly as the readout does in training
(docs/model.md#channel-routing-readout), for each ensemble member with its own channel
parameters:

* lateral inflow of reach u: q'_u(t) = max(q_u(t), 0)·A_u·1000/86400 m³ s-1 (q_u the unit's
  UH-routed runoff in mm d-1, A_u its area in km², record t held for the day);
* n_u, q_u (p_u) = the member's ``RoutingParameterNetwork`` on the unit's normalised
  attributes (the run's statistics, NaN → 0: what the HBV networks read);
* one :func:`dhbv.routing.route` over the network with the run's ``model.routing`` options
  (geometry, Δt, X, clamps) and daily means shifted by ``model.routing.day_offset_hours``;
* gauge g on its own reach r_g with FLOW_SCALE w_g:
  Q_g = max(Q̄_{r_g} − (1 − w_g)·q̄'_{r_g}, 0), q̄' the own lateral inflow averaged over the
  hours of the daily mean.

Streamflow and gauge streamflow are ensemble means of the members' routed flows.

**Spin-up.** The first chunk hot-starts the router (steady state of the first record) on the
last ``min(model.routing.warmup_days, spin-up days)`` days of the HBV spin-up, as training
does at the end of ``model.warmup``: HBV runs the whole spin-up as in the UH-only path, the
UH-routed runoff of those last days is handed to the router with the chunk's own days, and the
daily means of the spin-up days are dropped. Every later chunk continues the previous chunk's
routing state (discharge of every reach, the unfinished daily mean, per member; and the last
lateral record of the gauge reaches), kept in the chunk's state file with the network id.

**Days written.** A daily mean with ``day_offset_hours`` h > 0 needs h hours of the next day's
record, so (as in the routing chunks, :mod:`dhbv.routing.chunks`) a chunk writes the days its
records complete: the first chunk its own days but the last, every later chunk the day before
its first day up to the day before its last day. Concatenated, the chunks are the unchunked run;
the period's very last day is not written. With h = 0 each chunk writes exactly its own days.
The routed streamflow lives in the zarr group ``routed`` of the chunk store (its own time axis;
:func:`dhbv.simulation.store.open_routed`).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dhbv.errors import DhbvInputError


def is_routed_run(models) -> bool:
    """Whether the run's readout routes (δHBV2.0MC)."""
    return hasattr(models[0], "readout") and hasattr(models[0].readout, "run") and \
        getattr(models[0].readout, "name", "") == "muskingum_cunge"


def network_graph(network, unit_ids, slope_min: float):
    """(RoutingGraph over the units in topological order with their COMIDs as ids, graph
    position → unit index) of the units ``unit_ids`` on the topology-stage network file
    ``network`` (links to units outside the simulated ones become outlets, as in training)."""
    from dhbv.datasets.network import UnitNetwork, topological_order
    from dhbv.network import read_network
    from dhbv.routing import RoutingGraph

    path = Path(network)
    if not path.exists():
        raise DhbvInputError(f"network file {path} does not exist; build it first "
                             "(build_topology) or fix the path")
    try:
        un = UnitNetwork.from_network(read_network(path), unit_ids)
    except DhbvInputError as err:
        msg = str(err) if str(path) in str(err) else f"network file {path}: {err}"
        raise DhbvInputError(msg) from None
    bad = np.flatnonzero(~(np.isfinite(un.length_m) & (un.length_m > 0)))
    if bad.size:
        raise DhbvInputError(f"network file {path}: {bad.size} simulated unit(s) have no river "
                             f"reach (NaN or zero length, e.g. unit {unit_ids[bad[0]]}); route "
                             "only domains whose units all come from the river network")
    order = topological_order(un.downstream)
    rank = np.empty(order.size, np.int64)
    rank[order] = np.arange(order.size)
    d = un.downstream[order]
    down = np.where(d >= 0, rank[np.maximum(d, 0)], -1)
    slope = np.maximum(np.nan_to_num(un.slope[order], nan=0.0), slope_min)
    ids = np.array([int(u) for u in unit_ids], np.int64)[order]
    return RoutingGraph(down, un.length_m[order], slope, ids=ids), order


class DomainRouter:
    """The routing stage of a domain simulation: the network over the simulated units, the
    members' channel parameters and the gauges read.

    models : the run's members (readout ``muskingum_cunge``); inputs : the chunk's
    :class:`dhbv.simulation.inputs.DomainInputs` (unit ids, raw attributes, areas);
    stats : the run's normalisation statistics; network : topology-stage ``network.nc``;
    gauge_table, gauges : gauges read at their own reach (gauge table with STAID, COMID,
    FLOW_SCALE, DRAIN_SQKM), none when empty.
    """

    def __init__(self, models, inputs, stats, network, *, gauge_table=None, gauges=()):
        from dhbv.nn.normalization import normalize_attributes
        from dhbv.routing.chunks import network_id, read_gauge_set

        if not is_routed_run(models):
            raise DhbvInputError(f"network {network}: the run's readout is not muskingum_cunge, so "
                                 "it has no channel parameters to route with; simulate without "
                                 "the network (or route the unit runoff with dhbv route)")
        ro = models[0].readout
        self.options = ro.options
        self.offset_steps, self.day_steps = int(ro.offset_steps), int(ro.day_steps)
        self.day_offset_hours = self.offset_steps * self.options.dt / 3600.0
        self.lead_days = int(ro.lead_days)
        self.network = str(network)
        self.graph, self.order = network_graph(network, inputs.unit_ids, self.options.slope_min)
        self.network_id = network_id(self.graph)
        self.gauges = None
        if gauges:
            if not gauge_table:
                raise DhbvInputError("routed domain simulation: gauges given without their "
                                     "gauge table (domains.<d>.gauge_table)")
            self.gauges = read_gauge_set(gauge_table, list(gauges), self.graph,
                                         nested_scaled=True)
        area = np.asarray(inputs.area, np.float64)[self.order]
        if not (np.isfinite(area) & (area > 0)).all():
            raise DhbvInputError(f"unit forcing: unit area missing or not positive for "
                                 f"{int((~(np.isfinite(area) & (area > 0))).sum())} unit(s); the "
                                 "lateral inflow needs the unit areas (km2)")
        self.area = torch.as_tensor(area, dtype=torch.float32)
        x = normalize_attributes(inputs.attributes, inputs.attribute_names, stats)
        x = torch.from_numpy(np.ascontiguousarray(x[self.order]).astype(np.float32))
        with torch.no_grad():
            self.params = [m.readout.channel_parameters(x) for m in models]
        self.params = [type(p)(n=p.n.detach().cpu(), q=p.q.detach().cpu(),
                               p=p.p.detach().cpu() if torch.is_tensor(p.p) else p.p)
                       for p in self.params]

    @property
    def expect(self) -> dict:
        """What a previous chunk's routing state must match (see ``load_state``)."""
        return {"network_id": self.network_id, "dt": float(self.options.dt),
                "day_offset_hours": float(self.day_offset_hours),
                "gauges": [] if self.gauges is None else [str(g) for g in self.gauges.ids]}

    def lead(self, warm: int) -> int:
        """Days of the first chunk's spin-up the router spins up on."""
        return min(self.lead_days, max(int(warm), 0))

    def lateral(self, runoff: np.ndarray) -> torch.Tensor:
        """Lateral inflow [R, n] (m³ s-1, graph order) of one member's unit runoff [R, U]
        (mm d-1), as the training readout computes it (float32)."""
        from dhbv.readout import MM_DAY_KM2_TO_M3S

        q = torch.from_numpy(runoff[:, self.order])           # a copy in graph order
        return q.clamp_(min=0.0).mul_(self.area * MM_DAY_KM2_TO_M3S)

    def route(self, runoff: np.ndarray, *, start, end, lead: int, previous: dict | None):
        """Route one chunk: ``runoff`` [members, lead + days, U] (mm d-1; the first chunk's
        ``lead`` spin-up days first), ``previous`` the previous chunk's routing state (None:
        hot start, the first chunk).

        Returns (days [D], streamflow [n, D] in graph order, gauge streamflow [G, D] or None,
        m³ s-1 ensemble means, end routing state for the state file, diagnostics {name: value}
        with volumes [m³] as member means and counts summed over members).
        """
        from dhbv.routing.chunks import DIAGNOSTICS, _route_quiet, _state_blob, _state_of

        start, end = pd.Timestamp(start), pd.Timestamp(end)
        m = runoff.shape[0]
        f = self.offset_steps / self.day_steps
        gs = self.gauges
        sum_q, sum_g, members, diag = None, None, [], {k: 0.0 for k in DIAGNOSTICS}
        for k in range(m):
            lat = self.lateral(runoff[k])
            st = None
            if previous is not None:
                st = _state_of(previous["members"][k]["state"])
            res = _route_quiet(self.graph, lat, self.params[k], self.options,
                               day_offset_hours=self.day_offset_hours, state=st)
            mean, n_blocks = res.mean, res.mean.shape[0]
            if m == 1:
                sum_q = mean
            else:
                sum_q = mean.double() if sum_q is None else sum_q.add_(mean.double())
            own_last = None
            if gs is not None:
                reach = torch.tensor(np.array(gs.reach, np.int64))
                own = lat[:, reach]                                   # [R, G]
                own_last = own[-1].clone()
                if previous is not None and self.offset_steps:
                    own = torch.cat([previous["members"][k]["own_last"][None].to(own.dtype),
                                     own], 0)
                if self.offset_steps:              # the hours of the daily means
                    own = (1.0 - f) * own[:n_blocks] + f * own[1:n_blocks + 1]
                else:
                    own = own[:n_blocks]
                w = torch.tensor(np.array(gs.flow_scale), dtype=own.dtype)
                g = (mean[:, reach] - (1.0 - w) * own).clamp(min=0.0)
                sum_g = g.double() if sum_g is None else sum_g.add_(g.double())
            members.append({"state": _state_blob(res.state), "own_last": own_last})
            d = res.diagnostics
            for key in DIAGNOSTICS:
                v = getattr(d, key)
                diag[key] += int(v) if key.startswith("n_") else float(v) / m
        day0 = start - pd.Timedelta(days=int(lead)) if previous is None else \
            pd.Timestamp(previous["next_day"])
        days = pd.date_range(day0, periods=n_blocks, freq="D")
        keep = np.asarray(days >= start) if previous is None else np.ones(n_blocks, bool)
        if not keep.any():
            raise DhbvInputError(f"chunk {start.date()}..{end.date()} completes no daily mean of "
                                 "the routed streamflow (a day's mean needs the next day's "
                                 "record); use longer chunks")
        q = (sum_q if m == 1 else (sum_q / m).float()).numpy()[keep].T   # [n, D]
        gq = None if sum_g is None else (sum_g / m).float().numpy()[keep].T
        state = dict(self.expect, next_day=str((day0 + pd.Timedelta(days=n_blocks)).date()),
                     members=members)
        return days[keep], q, gq, state, diag

    def write(self, store_tmp, days, q, gq, attrs: dict) -> None:
        """Write the routed streamflow into the zarr group ``routed`` of the chunk store under
        construction ``store_tmp`` (CF: :func:`dhbv.routing.chunks.routed_dataset`)."""
        from dhbv.routing.chunks import routed_dataset
        from dhbv.simulation.store import ROUTED_GROUP

        ds, enc = routed_dataset(days, q, self.graph.ids, self.gauges, gq, attrs)
        ds.attrs["title"] = "δHBV2.0MC routed daily streamflow (dhbv domain simulation)"
        ds.to_zarr(store_tmp, group=ROUTED_GROUP, mode="w", consolidated=False, encoding=enc)

    def attributes(self, *, run_id: str, chunk: str, lead: int, records, seconds: float,
                   diagnostics: dict, members: int) -> dict:
        """Global attributes of the routed group."""
        h, dt = self.day_offset_hours, self.options.dt
        return {"source": f"dhbv domain simulation, run {run_id}: unit runoff routed with the "
                          "run's learned Muskingum-Cunge channel parameters",
                "run_id": run_id, "network": self.network, "network_id": self.network_id,
                "geometry": self.options.geometry, "routing_dt_s": float(dt),
                "day_offset_hours": float(h),
                "day_alignment": (f"day d = mean of the routed discharge over hours "
                                  f"24d+{h + dt / 3600:g} .. 24d+{h + 24:g} (UTC) of the records"),
                "chunk": chunk, "records": f"{records[0].date()}..{records[-1].date()}",
                "warmup_days": int(lead), "ensemble_members": int(members),
                "lateral_inflow": "max(runoff, 0) [mm d-1] x unit area [km2] / 86.4",
                "compute_seconds": round(float(seconds), 3),
                **{k: (int(v) if k.startswith("n_") else float(v))
                   for k, v in diagnostics.items()},
                "history": f"{pd.Timestamp.now('UTC'):%Y-%m-%dT%H:%M}Z dhbv "
                           "simulate_domain_chunk"}


def route_chunk(router: DomainRouter, runoff, store_tmp, *, start, end, lead, previous,
                run_id: str, chunk: str) -> tuple[dict, float]:
    """Route a chunk's runoff and write it into ``store_tmp``/routed; returns (routing state for
    the state file, seconds)."""
    t0 = time.perf_counter()
    days, q, gq, state, diag = router.route(runoff, start=start, end=end, lead=lead,
                                            previous=previous)
    seconds = time.perf_counter() - t0
    records = pd.date_range(pd.Timestamp(start) - pd.Timedelta(days=int(lead)), end, freq="D")
    router.write(store_tmp, days, q, gq, router.attributes(
        run_id=run_id, chunk=chunk, lead=lead, records=records, seconds=seconds,
        diagnostics=diag, members=runoff.shape[0]))
    return state, seconds
