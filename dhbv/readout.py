"""Gauge readouts: from the runoff of a batch's units to streamflow at its gauges.

A readout is a module owned by the model, called as ``readout(unit_flow, batch)`` with unit
flow [T, I] (mm d-1, one column per instance of :class:`dhbv.datasets.batch.GaugeBatch`) and
returning gauge flow [T, G] (mm d-1). δHBV2.0UH uses the area-weighted mean of the gauge's
UH-routed unit runoff (docs/model.md#multiscale-gauge-aggregation):

    Q_g(t) = Σ_{u∈U(g)} w_u·A_u·q_u(t) / Σ_{u∈U(g)} w_u·A_u

with A_u the unit's own area (km²) and w_u = FLOW_SCALE for the gauge's own unit, 1 otherwise.

δHBV2.0MC (:class:`MuskingumCungeReadout`) routes the unit runoff through the batch's river
subnetwork with differentiable Muskingum–Cunge (:mod:`dhbv.routing`) and reads the outflow of
each gauge's own reach (docs/model.md#channel-routing-readout). A readout may consume
``lead`` leading days of unit flow as its own spin-up (``lead_days`` says how many it wants):
``readout(unit_flow [lead + T, I], batch, lead=lead) → [T, G]``; callers pass them with
:func:`readout_lead` and :func:`gauge_flow`.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from dhbv.errors import DhbvInputError

#: mm d-1 over 1 km² → m³ s-1: 1e-3 m · 1e6 m² / 86 400 s
MM_DAY_KM2_TO_M3S = 1000.0 / 86400.0


def aggregate(matrix: torch.Tensor, unit_flow: torch.Tensor) -> torch.Tensor:
    """Gauge flow [T, G] from unit flow [T, U] (mm d-1) with a sparse [G, U] weight matrix."""
    if matrix.shape[0] == matrix.shape[1] and matrix.shape[0] == unit_flow.shape[1] and \
            matrix._nnz() == matrix.shape[0]:
        idx = matrix.indices()
        if torch.equal(idx[0], idx[1]) and torch.all(matrix.values() == 1):
            return unit_flow                                  # lumped batch: identity
    return torch.sparse.mm(matrix, unit_flow.transpose(0, 1)).transpose(0, 1)


class AreaWeightedReadout(nn.Module):
    """Gauge flow = area-weighted mean of its units' flow (δHBV2.0UH); no parameters."""

    name = "area_weighted"
    lead_days = 0
    needs_attributes = False

    def forward(self, unit_flow: torch.Tensor, batch, lead: int = 0,
                attributes: torch.Tensor | None = None) -> torch.Tensor:
        """unit_flow [lead + T, I] (mm d-1) → gauge flow [T, G] (mm d-1)."""
        return aggregate(batch.weights, unit_flow[int(lead):])


class MuskingumCungeReadout(nn.Module):
    """δHBV2.0MC readout: unit runoff routed by Muskingum–Cunge to each gauge's own reach.

    For the batch's instances (units) u with own area A_u (km²) and runoff q_u (mm d-1):

    1. lateral inflow of reach u: q'_u(t) = q_u(t)·A_u·1000/86400 (m³ s-1), record t held for
       the day;
    2. channel parameters n_u, q_u (and p_u) = ``network``(routing attributes of u), a
       :class:`dhbv.routing.learned.RoutingParameterNetwork` (a submodule: trained and saved
       with the model);
    3. one :func:`dhbv.routing.route` over the whole batch subnetwork (nested gauges share it),
       hot-started from the first record (steady state) unless a state is given; the first
       ``lead`` records are the routing spin-up and are not returned;
    4. gauge g with own reach r_g and own-unit weight w_g (FLOW_SCALE):
       Q_g = max(Q̄_{r_g} − (1 − w_g)·q̄'_{r_g}, 0) (m³ s-1), with Q̄ the daily mean outflow
       and q̄' the own lateral inflow averaged over the same hours, then
       gauge flow = Q_g·86400/(1000·D_g) mm d-1 with D_g = Σ_{u∈U(g)} w_u·A_u (km²).

    Options: ``attribute_index`` (columns of the model's normalised attributes read by the
    routing network), ``hidden``/``layers``/``learn_p`` (network), ``geometry``, ``dt`` (s),
    ``x``, ``clamp`` (:class:`dhbv.routing.RoutingOptions`), ``warmup_days`` (routing spin-up
    taken from the end of the model's warm-up), ``day_offset_hours`` (hours of the next day's
    records in a daily mean; 0 = the day's own records; > 0 holds a window's last record for
    its last day).
    """

    name = "muskingum_cunge"
    needs_attributes = True

    def __init__(self, attribute_index: Sequence[int], *, hidden: int = 64, layers: int = 2,
                 learn_p: bool = False, dropout: float = 0.0, geometry: str = "wide",
                 dt: float = 3600.0, x: float = 0.3, clamp: str = "after",
                 warmup_days: int = 5, day_offset_hours: float = 9.0):
        super().__init__()
        from dhbv.routing import RoutingOptions
        from dhbv.routing.learned import RoutingParameterNetwork

        idx = [int(i) for i in attribute_index]
        if not idx:
            raise DhbvInputError("model.routing.attributes: the routing network needs at least "
                                 "one attribute of model.attributes")
        if geometry == "linear":
            raise DhbvInputError("model.routing.geometry 'linear' has no channel parameters to "
                                 "learn; use wide, trapezoid or trapezoid_exact")
        self.options = RoutingOptions(geometry=geometry, dt=float(dt), x=float(x), clamp=clamp)
        if int(warmup_days) < 0:
            raise DhbvInputError(f"model.routing.warmup_days {warmup_days}: must be >= 0")
        if not 0.0 <= float(day_offset_hours) < 24.0:
            raise DhbvInputError(f"model.routing.day_offset_hours {day_offset_hours}: must lie "
                                 "in [0, 24)")
        self.day_steps = self.options.steps_per(86400.0, "86400 s (one day)")
        self.offset_steps = self.options.steps_per(float(day_offset_hours) * 3600.0,
                                                   "model.routing.day_offset_hours") \
            if day_offset_hours else 0
        self.register_buffer("attribute_index", torch.tensor(idx, dtype=torch.long),
                             persistent=False)
        self.lead_days = int(warmup_days)
        self.network = RoutingParameterNetwork(len(idx), hidden=int(hidden), layers=int(layers),
                                               learn_p=bool(learn_p), dropout=float(dropout))
        self._graphs: OrderedDict = OrderedDict()
        self.last_diagnostics = None

    # ------------------------------------------------------------------ batch structure
    def _plan(self, batch):
        """(RoutingGraph, graph position of each instance, gauge reaches, own weights [G],
        drainage areas [G] km²) of a batch; cached by its units."""
        if batch.network is None:
            if batch.starts is not None:
                raise DhbvInputError("model.readout muskingum_cunge routes one time window per "
                                     "batch; set train.window_sampling: per_batch")
            raise DhbvInputError("model.readout muskingum_cunge needs a river network over the "
                                 "dataset's units (a 'network' in its standard source); a lumped "
                                 "dataset has none: use model.readout area_weighted")
        net = batch.network
        gkey = hash((np.asarray(batch.units, np.int64).tobytes(), net.downstream.tobytes(),
                     np.asarray(net.length_m).tobytes(), np.asarray(batch.unit_area).tobytes(),
                     tuple(np.asarray(w).tobytes() for _, w in batch.members)))
        if gkey in self._graphs:
            self._graphs.move_to_end(gkey)
            return self._graphs[gkey]
        from dhbv.routing import RoutingGraph

        n = len(net.order)
        bad = np.flatnonzero(~(np.isfinite(net.length_m) & (net.length_m > 0)))
        if bad.size:
            raise DhbvInputError(f"model.readout muskingum_cunge: {bad.size} unit(s) of the batch "
                                 "have no river reach (NaN or zero length, e.g. a lumped basin); "
                                 "route only datasets whose units all come from a river network")
        rank = np.empty(n, np.int64)
        rank[net.order] = np.arange(n)
        d = net.downstream[net.order]
        down = np.where(d >= 0, rank[np.maximum(d, 0)], -1)
        slope = np.maximum(np.nan_to_num(net.slope[net.order], nan=0.0), self.options.slope_min)
        graph = RoutingGraph(down, net.length_m[net.order], slope)
        reach, own_w, area = [], [], []
        for pos, w in batch.members:
            r = net.outlet_of(pos)
            reach.append(rank[r])
            own_w.append(float(w[pos == r][0]))
            area.append(float(np.sum(w * batch.unit_area[pos])))
        plan = (graph, rank, np.asarray(reach, np.int64), np.asarray(own_w),
                np.asarray(area))
        self._graphs[gkey] = plan
        if len(self._graphs) > 64:
            self._graphs.popitem(last=False)
        return plan

    def channel_parameters(self, attributes: torch.Tensor):
        """ChannelParameters [I] from the instances' normalised attributes [I, A_model]."""
        w = next(self.network.parameters())
        x = attributes.to(device=w.device, dtype=w.dtype)
        return self.network(x.index_select(1, self.attribute_index.to(w.device)))

    # ------------------------------------------------------------------ forward
    def forward(self, unit_flow: torch.Tensor, batch, lead: int = 0,
                attributes: torch.Tensor | None = None) -> torch.Tensor:
        """unit_flow [lead + T, I] (mm d-1) → gauge flow [T, G] (mm d-1), hot start."""
        return self.run(unit_flow, batch, lead=lead, attributes=attributes)[0]

    def run(self, unit_flow: torch.Tensor, batch, *, lead: int = 0,
            attributes: torch.Tensor | None = None, state=None):
        """(gauge flow [T, G] mm d-1, RoutingState) for unit flow [lead + T, I] (mm d-1).

        ``attributes`` [I, A_model]: the model's normalised attributes of the instances.
        ``state``: the RoutingState returned for the previous window (continues it; no hot
        start); None hot-starts from the first record.
        """
        from dhbv.routing import ChannelParameters, route

        if attributes is None:
            raise DhbvInputError("model.readout muskingum_cunge: the routing network needs the "
                                 "instances' normalised attributes (pass attributes=)")
        graph, rank, reach, own_w, area = self._plan(batch)
        lead = int(lead)
        n_rec = unit_flow.shape[0]
        if unit_flow.dim() != 2 or unit_flow.shape[1] != graph.n or not 0 <= lead < n_rec:
            raise DhbvInputError(f"muskingum_cunge readout: unit flow {tuple(unit_flow.shape)} "
                                 f"for {graph.n} units and {lead} lead days")
        dev, dt = unit_flow.device, unit_flow.dtype
        perm = torch.as_tensor(np.argsort(rank), device=dev)        # graph position → instance
        a = torch.as_tensor(batch.unit_area, dtype=dt, device=dev)
        lateral = (unit_flow.clamp(min=0.0) * (a * MM_DAY_KM2_TO_M3S)).index_select(1, perm)
        p = self.channel_parameters(attributes.to(dev))
        params = ChannelParameters(n=p.n.to(dt).index_select(0, perm),
                                   q=p.q.to(dt).index_select(0, perm),
                                   p=p.p.to(dt).index_select(0, perm)
                                   if torch.is_tensor(p.p) else p.p)
        ro, inv = np.unique(reach, return_inverse=True)
        off_h = self.offset_steps * self.options.dt / 3600.0
        kw = dict(options=self.options, readout=ro)
        res = route(graph, lateral, params, day_offset_hours=off_h, state=state, **kw)
        mean, diag = res.mean, res.diagnostics
        if self.offset_steps:
            if state is not None:
                mean = mean[1:]                 # the previous window's last day, done there
            tail = route(graph, lateral[-1:], params, state=res.state, **kw)
            mean = torch.cat([mean, tail.mean], 0)
        self.last_diagnostics = diag
        q_out = mean[lead:][:, torch.as_tensor(inv, device=dev)]         # [T, G] m³/s
        own = lateral[:, torch.as_tensor(reach, device=dev)]             # [lead + T, G]
        if self.offset_steps:                   # the same hours as the daily means
            f = self.offset_steps / self.day_steps
            nxt = torch.cat([own[1:], own[-1:]], 0)
            own = (1.0 - f) * own + f * nxt
        w = torch.as_tensor(own_w, dtype=dt, device=dev)
        q_g = (q_out - (1.0 - w) * own[lead:]).clamp(min=0.0)
        d = torch.as_tensor(area, dtype=dt, device=dev)
        return q_g / (d * MM_DAY_KM2_TO_M3S), res.state


READOUTS = {AreaWeightedReadout.name: AreaWeightedReadout,
            MuskingumCungeReadout.name: MuskingumCungeReadout}


def build_readout(name: str, **options) -> nn.Module:
    """The readout named by ``model.readout`` with its options."""
    if name not in READOUTS:
        raise DhbvInputError(f"model.readout {name!r} unknown; use one of {sorted(READOUTS)}")
    return READOUTS[name](**options)


def readout_lead(model, warm: int) -> int:
    """Leading days of unit flow the model's readout takes as spin-up within ``warm`` days."""
    return min(int(getattr(model.readout, "lead_days", 0) or 0), max(int(warm), 0))


def gauge_flow(model, unit_flow: torch.Tensor, batch, static_norm: np.ndarray,
               lead: int = 0) -> torch.Tensor:
    """Gauge flow [T, G] (mm d-1) of unit flow [lead + T, I] through the model's readout.

    ``static_norm`` [U, A]: the normalised attributes of every dataset unit (``Prepared``);
    the batch's rows go to readouts that read attributes.
    """
    ro = model.readout
    kw = {}
    if lead:
        kw["lead"] = int(lead)
    if getattr(ro, "needs_attributes", False):
        kw["attributes"] = torch.from_numpy(np.ascontiguousarray(
            static_norm[np.asarray(batch.units)])).to(unit_flow.device)
    return ro(unit_flow, batch, **kw)


#: configuration keys of ``model.routing`` passed to :class:`MuskingumCungeReadout`
ROUTING_KEYS = ("hidden", "layers", "learn_p", "dropout", "geometry", "dt", "x", "clamp",
                "warmup_days", "day_offset_hours")


def readout_options(model_cfg: dict) -> dict:
    """Keyword options of the readout named by ``model.readout`` from the ``model`` section.

    ``model.routing.attributes`` (null = all of ``model.attributes``) become the column
    indices of the model's normalised attributes that the routing network reads.
    """
    name = model_cfg.get("readout", "area_weighted")
    if name != MuskingumCungeReadout.name:
        return {}
    rc = dict(model_cfg.get("routing") or {})
    names = list(model_cfg.get("attributes") or [])
    wanted = rc.get("attributes") or names
    missing = [a for a in wanted if a not in names]
    if missing:
        raise DhbvInputError(f"model.routing.attributes: '{missing[0]}' is not one of "
                             "model.attributes; the routing network reads the model's "
                             "normalised attributes, add it there")
    opts = {k: rc[k] for k in ROUTING_KEYS if rc.get(k) is not None}
    return dict(opts, attribute_index=[names.index(a) for a in wanted])
