"""Learning the channel parameters of a river network from gauge flows (docs/routing.md §10).

The routing parameter network (:class:`dhbv.routing.learned.RoutingParameterNetwork`) maps the
normalised attributes of every reach to Manning n and the width exponent q; the lateral
inflow of every reach (m³/s, daily; e.g. the published δHBV2.0 unit runoff Q′) is routed
through the network with Muskingum–Cunge (:func:`dhbv.routing.route`) and the daily mean
outflow of each gauge's reach is compared with the gauge's observations.

Training (:func:`train_routing`): a warm-up from the hot start (no loss) before the training
period, then the training period in consecutive windows of about ``window_days`` days, one
Adam step per window, the routing state carried (detached) from one window to the next;
``epochs`` passes. Loss: the project's streamflow loss (``rmse_comb`` or ``nse``,
:mod:`dhbv.training.losses`) on flows in mm d⁻¹ (m³/s × 86.4 / drainage area in km²).
Seeded and deterministic on CPU.

A run directory holds ``routing_model.pt`` (weights and architecture), ``attribute_statistics.json``
(normalisation of the attributes), ``options.yaml`` (resolved options and inputs),
``training_log.csv`` (per epoch: loss, training NSE, seconds) and ``reaches.nc`` (the network
and the raw attributes, so the model can be applied without them). :func:`load_routing_run`,
:func:`route_lateral_file` and :func:`score_routing` apply it.

Daily alignment (docs/routing.md §3): a fresh run over records d0…d1 yields the daily means of
days d0…d1 − 1 (day d is the mean of hours 24d + 10 … 24d + 33), so a day's mean needs the
next day's record.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
import yaml

from dhbv.errors import DhbvInputError

from .attributes import ROUTING_ATTRIBUTES, AttributeStatistics, normalise, reach_inputs
from .graph import RoutingGraph
from .learned import RoutingParameterNetwork
from .options import RoutingOptions
from .solver import RoutingState, route

log = logging.getLogger(__name__)

#: m³/s → mm d⁻¹ over 1 km²
M3S_TO_MMD_KM2 = 86.4
LATERAL_ID_NAMES = ("divide_id", "COMID", "comid", "reach", "unit")
GAUGE_ID_NAMES = ("gage_id", "gauge", "STAID", "gauge_id")
M3S_UNITS = {"m3/s", "m3 s-1", "m^3/s", "m3.s-1", "m**3/s", "m3 s**-1", "m^3 s^-1"}
RUN_FILES = ("routing_model.pt", "attribute_statistics.json", "options.yaml",
             "training_log.csv", "reaches.nc")


@dataclass
class RoutingTrainingOptions:
    """Everything that defines a routing training run (docs/routing.md §10).

    geometry, dt [s], x, clamp : :class:`RoutingOptions`; hidden, layers, learn_p : the
    parameter network; train_period, test_period : [start, end] dates (test only scored);
    warmup_days : days routed from the hot start before the training period (no loss);
    window_days : days per optimizer step; epochs : passes over the training period;
    lr : Adam learning rate; loss : "rmse_comb" or "nse"; loss_alpha, loss_beta : rmse_comb's
    weights; seed : torch seed of the network's initial weights.
    """

    geometry: str = "wide"
    dt: float = 3600.0
    x: float = 0.3
    clamp: str = "after"
    hidden: int = 32
    layers: int = 2
    learn_p: bool = False
    train_period: tuple = ("1981-10-01", "1995-09-30")
    test_period: tuple | None = ("1995-10-01", "2000-09-30")
    warmup_days: int = 365
    window_days: int = 365
    epochs: int = 8
    lr: float = 0.005
    loss: str = "rmse_comb"
    loss_alpha: float = 0.25
    loss_beta: float = 1e-6
    seed: int = 0

    def __post_init__(self):
        from dhbv.config import parse_period
        from dhbv.training.losses import LOSSES

        self.train_period = tuple(parse_period(list(self.train_period), "routing.train_period"))
        if self.test_period is not None:
            self.test_period = tuple(parse_period(list(self.test_period), "routing.test_period"))
        for name in ("warmup_days", "window_days", "epochs", "hidden", "layers"):
            v = getattr(self, name)
            if int(v) != v or v < (0 if name in ("warmup_days", "epochs") else 1):
                raise DhbvInputError(f"routing.{name}={v}: expected a whole number ≥ "
                                     f"{0 if name in ('warmup_days', 'epochs') else 1}")
        if self.loss not in LOSSES:
            raise DhbvInputError(f"routing.loss={self.loss!r}: expected one of {LOSSES}")
        if not self.lr > 0:
            raise DhbvInputError(f"routing.lr={self.lr}: must be > 0")
        self.routing_options()  # validates geometry, dt, x, clamp

    def routing_options(self) -> RoutingOptions:
        return RoutingOptions(geometry=self.geometry, dt=float(self.dt), x=float(self.x),
                              clamp=self.clamp)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["train_period"] = list(self.train_period)
        d["test_period"] = list(self.test_period) if self.test_period else None
        return d


# ----------------------------------------------------------------------------- inputs
def load_graph(network) -> RoutingGraph:
    """:class:`RoutingGraph` of a network file (dhbv NetCDF or DDR zarr) with one-line errors
    for a missing file, a cycle, zero length or slope."""
    from dhbv.network import read_network

    path = Path(network)
    if not path.exists():
        raise DhbvInputError(f"network file {path} does not exist; build it first "
                             "(build_topology) or fix the path")
    try:
        net = read_network(path)
        return RoutingGraph(downstream=np.asarray(net.downstream), length_m=net.length_m,
                            slope=net.slope, ids=net.comid)
    except DhbvInputError as err:
        msg = str(err) if str(path) in str(err) else f"network file {path}: {err}"
        raise type(err)(msg) from None


@dataclass
class LateralInflow:
    """Daily lateral inflow in network order: time [T] (days), values [T, reaches] m³/s."""

    time: pd.DatetimeIndex
    values: np.ndarray
    path: str = ""


def read_lateral(path, graph: RoutingGraph, first=None, last=None, *, clip_first=False,
                 what: str = "days") -> LateralInflow:
    """The lateral inflow of every network reach from ``first`` to ``last`` (dates, inclusive;
    None = the file's ends), m³/s, reordered to the network.

    The NetCDF holds one 2-d variable (``Qr``, ``lateral`` or the only one) over a reach-id
    dimension (divide_id, COMID, reach or unit) and ``time``, with units m³/s. One-line errors:
    reaches of the file not in the network or network reaches without inflow, days outside
    the file (``what`` names them in the message; ``clip_first`` moves an early ``first`` to
    the file's first day), NaN or negative inflow on the days read.
    """
    from dhbv.io.standard import check_time_axis, open_netcdf

    ds = open_netcdf(path, "lateral inflow", needs=("time",))
    check_time_axis(ds, f"lateral inflow file {path}")
    cands = [v for v in ("Qr", "lateral", "lateral_inflow", "qprime") if v in ds.data_vars] \
        or [v for v in ds.data_vars if ds[v].ndim == 2]
    if len(cands) != 1 and not (cands and cands[0] in ("Qr", "lateral", "lateral_inflow",
                                                       "qprime")):
        raise DhbvInputError(f"lateral inflow file {path}: expected one 2-d variable (Qr or "
                             f"lateral) over (reach, time), found {sorted(ds.data_vars)}")
    var = ds[cands[0]]
    idname = next((d for d in var.dims if d != "time"), None)
    if "time" not in var.dims or var.ndim != 2 or idname is None:
        raise DhbvInputError(f"lateral inflow file {path}: {var.name} has dimensions {var.dims}, "
                             "expected (reach, time)")
    units = str(var.attrs.get("units", ds.attrs.get("units", ""))).strip()
    if units not in M3S_UNITS:
        raise DhbvInputError(f"lateral inflow file {path}: {var.name} has units {units!r}; "
                             "expected m3 s-1 (convert mm/d × unit area first)")
    ids = np.asarray(ds[idname].values).astype(np.int64)
    pos = graph.index_of(ids)
    if (pos < 0).any():
        extra = ids[pos < 0]
        raise DhbvInputError(f"lateral inflow file {path}: {extra.size} reaches are not in the "
                             f"network (e.g. {extra[:5].tolist()}); give the matching network "
                             "or cut the file to it")
    missing = np.setdiff1d(graph.ids, ids)
    if missing.size or np.unique(ids).size != ids.size:
        raise DhbvInputError(f"lateral inflow file {path}: no inflow for {missing.size} network "
                             f"reaches (e.g. {missing[:5].tolist()}) or duplicate reach ids; "
                             "give every network reach one column")
    t = pd.DatetimeIndex(ds["time"].values)
    if len(t) > 1 and (np.diff(t.values) != np.timedelta64(1, "D")).any():
        raise DhbvInputError(f"lateral inflow file {path}: the time axis is not daily without "
                             "gaps; give one record per day")
    a = t[0] if first is None else pd.Timestamp(first)
    b = t[-1] if last is None else pd.Timestamp(last)
    if clip_first:
        a = max(a, t[0])
    if a < t[0] or b > t[-1] or b < a:
        raise DhbvInputError(f"lateral inflow file {path}: {what} need {a.date()}..{b.date()} "
                             f"but the file covers {t[0].date()}..{t[-1].date()}; give another "
                             "period or a longer file")
    i0, i1 = t.get_loc(a), t.get_loc(b) + 1
    order = np.empty(graph.n, np.int64)
    order[pos] = np.arange(ids.size)
    v = np.asarray(var.isel(time=slice(i0, i1)).transpose("time", idname).values,
                   np.float64)[:, order]
    bad = ~np.isfinite(v)
    if bad.any():
        k, j = np.argwhere(bad)[0]
        raise DhbvInputError(f"lateral inflow file {path}: {int(bad.sum())} NaN or infinite "
                             f"values (first: reach {int(graph.ids[j])} on {t[i0 + k].date()}); "
                             "fill them")
    if (v < 0).any():
        k, j = np.argwhere(v < 0)[0]
        raise DhbvInputError(f"lateral inflow file {path}: {int((v < 0).sum())} negative values "
                             f"(first: reach {int(graph.ids[j])} on {t[i0 + k].date()}); lateral "
                             "inflow must be >= 0 m3/s")
    return LateralInflow(t[i0:i1], v, str(path))


@dataclass
class Gauges:
    """Gauges read at their own reach: ids, reach index, FLOW_SCALE, drainage area [km²]."""

    ids: list
    reach: np.ndarray
    flow_scale: np.ndarray
    area_km2: np.ndarray

    def scaled(self, lateral: np.ndarray) -> np.ndarray:
        """Lateral inflow with each gauge reach's own inflow × FLOW_SCALE (partial-area
        gauges, docs/network.md#gauge-mapping)."""
        if np.all(self.flow_scale == 1.0):
            return lateral
        out = lateral.copy()
        out[:, self.reach] *= self.flow_scale
        return out

    def upstream_mask(self, graph: RoutingGraph) -> np.ndarray:
        """[gauges, reaches] True where the reach drains through the gauge's reach."""
        m = np.zeros((len(self.ids), graph.n), bool)
        down = graph.downstream
        for g, r in enumerate(self.reach):
            m[g, r] = True
            for i in range(r - 1, -1, -1):
                if down[i] >= 0 and m[g, down[i]]:
                    m[g, i] = True
        return m


def read_gauges(gauge_table, gauges, graph: RoutingGraph) -> Gauges:
    """The gauges' reaches, FLOW_SCALE and drainage areas from a gauge table (STAID, COMID,
    FLOW_SCALE, DRAIN_SQKM)."""
    from dhbv.network import read_gauge_table
    from dhbv.network.gauges import normalize_staid

    df = read_gauge_table(gauge_table).set_index("STAID")
    ids = [normalize_staid(str(g)) for g in gauges]
    if not ids:
        raise DhbvInputError("routing: no gauges to train on; list them in domains.<d>.gauges")
    absent = [g for g in ids if g not in df.index]
    if absent:
        raise DhbvInputError(f"gauge table {gauge_table}: gauges {absent[:5]} are not in it; "
                             "add them or fix the ids")
    reach = graph.index_of(df.loc[ids, "COMID"].astype(np.int64).values)
    if (reach < 0).any():
        g = ids[int(np.flatnonzero(reach < 0)[0])]
        raise DhbvInputError(f"gauge table {gauge_table}: gauge {g}'s COMID "
                             f"{int(df.loc[g, 'COMID'])} is not in the network")
    area = df.loc[ids, "DRAIN_SQKM"].astype(float).values
    if not (np.isfinite(area) & (area > 0)).all():
        raise DhbvInputError(f"gauge table {gauge_table}: DRAIN_SQKM missing or not positive "
                             "for a gauge; the loss needs the drainage area")
    scale = df.loc[ids, "FLOW_SCALE"].astype(float).values
    out = Gauges(ids, reach.astype(np.int64), scale, area)
    if (scale != 1.0).any() and len(ids) > 1:
        up = out.upstream_mask(graph)
        for g in np.flatnonzero(scale != 1.0):
            nested = [ids[h] for h in range(len(ids)) if h != g and up[h, out.reach[g]]]
            if nested:
                raise DhbvInputError(f"gauge table {gauge_table}: gauge {ids[g]} has FLOW_SCALE "
                                     f"{scale[g]:.3f} and gauge {nested[0]} downstream; train "
                                     "such nested gauges separately")
    return out


def read_observations(path, gauges: Gauges, time: pd.DatetimeIndex) -> np.ndarray:
    """Observed daily discharge [T, gauges] in m³/s on the days ``time`` (NaN where missing).

    A NetCDF with ``streamflow`` over a gauge dimension (gage_id or gauge) and ``time``; units
    m³/s (variable ``units`` or the file's ``streamflow_units``)."""
    from dhbv.io.standard import check_time_axis, open_netcdf

    ds = open_netcdf(path, "gauge observations", needs=("streamflow", "time"))
    check_time_axis(ds, f"gauge observations file {path}")
    var = ds["streamflow"]
    gdim = next((d for d in var.dims if d != "time"), None)
    if gdim is None or var.ndim != 2:
        raise DhbvInputError(f"gauge observations file {path}: streamflow has dimensions "
                             f"{var.dims}, expected (gauge, time)")
    units = str(var.attrs.get("units", ds.attrs.get("streamflow_units", ""))).strip()
    if units not in M3S_UNITS:
        raise DhbvInputError(f"gauge observations file {path}: streamflow units {units!r}; "
                             "expected m3 s-1")
    have = [str(g) for g in ds[gdim].values]
    absent = [g for g in gauges.ids if g not in have]
    if absent:
        raise DhbvInputError(f"gauge observations file {path}: no series for gauges "
                             f"{absent[:5]}; add them or fix domains.<d>.gauges")
    q = var.transpose("time", gdim).to_pandas()
    q.columns = have
    q = q[gauges.ids].reindex(time)
    v = q.to_numpy(np.float64)
    if (v < 0).any():
        raise DhbvInputError(f"gauge observations file {path}: negative discharge; fix or set "
                             "missing days to NaN")
    return v


# ----------------------------------------------------------------------------- the run
@dataclass
class RoutingRun:
    """A trained routing model with what it needs to be applied."""

    model: RoutingParameterNetwork
    statistics: AttributeStatistics
    options: RoutingTrainingOptions
    graph: RoutingGraph
    attributes: np.ndarray          # raw [reaches, A] of the training network
    meta: dict = field(default_factory=dict)

    def parameters(self, x_norm: np.ndarray):
        """ChannelParameters (float64) of normalised attributes [reaches, A], no gradient."""
        with torch.no_grad():
            return self.model(torch.as_tensor(x_norm, dtype=torch.float64))


def _build_model(n_attr: int, o: RoutingTrainingOptions) -> RoutingParameterNetwork:
    torch.manual_seed(o.seed)
    return RoutingParameterNetwork(n_attr, hidden=o.hidden, layers=o.layers,
                                   learn_p=o.learn_p).double()


def _day(time: pd.DatetimeIndex, date, what: str) -> int:
    d = pd.Timestamp(date)
    if d < time[0] or d > time[-1]:
        raise DhbvInputError(f"{what} {d.date()} is outside the lateral inflow "
                             f"({time[0].date()}..{time[-1].date()})")
    return int(time.get_loc(d))


def _route(graph, lateral, params, opts, readout=None, state=None):
    """``route`` of daily records without the solver's per-call log line (the callers log
    the summed diagnostics)."""
    solver_log = logging.getLogger("dhbv.routing.solver")
    level = solver_log.level
    solver_log.setLevel(logging.WARNING)
    try:
        return route(graph, torch.as_tensor(lateral), params, options=opts, readout=readout,
                     state=state)
    finally:
        solver_log.setLevel(level)


def _detached(s: RoutingState) -> RoutingState:
    return RoutingState(s.discharge.detach(), s.pending.detach(), s.pending_count, s.to_skip)


def _loss_fn(o: RoutingTrainingOptions, obs_mmd: np.ndarray):
    from dhbv.training.losses import nse_batch_loss, rmse_comb

    if o.loss == "nse":
        std = torch.as_tensor(np.nanstd(obs_mmd, axis=0))
        return lambda p, y: nse_batch_loss(p, y, std)
    return lambda p, y: rmse_comb(p, y, alpha=o.loss_alpha, beta=o.loss_beta)


def _nse(sim: np.ndarray, obs: np.ndarray) -> np.ndarray:
    from dhbv.evaluation.metrics import nse_matrix

    return nse_matrix(sim.T, obs.T)


def _windows(first: int, last: int, window: int) -> list[tuple[int, int]]:
    """[(a, b)] day-index windows covering first..last (inclusive) of ≈ ``window`` days."""
    days = last - first + 1
    k = max(1, int(round(days / window)))
    edges = np.linspace(first, last + 1, k + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _write_run_dir(run_dir: Path, writers: dict) -> None:
    """Write every file of a run directory into a temporary folder, then move it into place
    (all files or none)."""
    from dhbv.io.atomic import check_output_path

    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise DhbvInputError(f"run directory {run_dir} is a file; give a folder path")
    check_output_path(run_dir / "x", "run directory")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", dir=run_dir.parent))
    try:
        for name, write in writers.items():
            write(tmp / name)
        os.chmod(tmp, 0o777 & ~_umask())
        if run_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.old.", dir=run_dir.parent))
            os.replace(run_dir, old / "run")
            os.replace(tmp, run_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, run_dir)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def train_routing(network, attributes, lateral, observations, gauge_table, gauges, run_dir,
                  options: RoutingTrainingOptions | None = None) -> dict:
    """Learn the routing parameter network of ``network`` from gauge flows; write ``run_dir``.

    network : network file (dhbv NetCDF or DDR zarr); attributes : reach attributes NetCDF
    (``ROUTING_ATTRIBUTES``); lateral : daily lateral inflow NetCDF (m³/s per reach);
    observations : gauge discharge NetCDF (m³/s); gauge_table : CSV with STAID, COMID,
    FLOW_SCALE, DRAIN_SQKM; gauges : gauge ids. Returns a summary dict (final training NSE
    per gauge, n's quantiles, seconds).
    """
    o = options or RoutingTrainingOptions()
    t_start = time.process_time()
    graph = load_graph(network)
    gs = read_gauges(gauge_table, gauges, graph)
    x, stats, raw = reach_inputs(attributes, graph.ids)
    lat_all = read_lateral(lateral, graph)
    t = lat_all.time
    a = _day(t, o.train_period[0], "routing.train_period start")
    b = _day(t, o.train_period[1], "routing.train_period end")
    if b + 1 >= len(t):
        raise DhbvInputError(f"lateral inflow file {lateral}: routing.train_period ends on the "
                             "file's last day; the last day's mean needs the next day's record")
    w0 = max(0, a - o.warmup_days)
    if a - w0 < o.warmup_days:
        log.warning("routing: only %d warm-up days before %s in %s", a - w0, t[a].date(), lateral)
    lat = gs.scaled(lat_all.values)
    obs = read_observations(observations, gs, t)
    conv = M3S_TO_MMD_KM2 / gs.area_km2              # m³/s → mm/d per gauge
    obs_mmd = obs * conv
    if not np.isfinite(obs_mmd[a:b + 1]).any():
        raise DhbvInputError(f"gauge observations file {observations}: no observation in "
                             f"routing.train_period {o.train_period[0]}..{o.train_period[1]}")
    loss_fn = _loss_fn(o, obs_mmd[a:b + 1])
    opts = o.routing_options()
    model = _build_model(x.shape[1], o)
    xt = torch.as_tensor(x, dtype=torch.float64)
    optim = torch.optim.Adam(model.parameters(), lr=o.lr)
    yt = torch.as_tensor(obs_mmd)
    ct = torch.as_tensor(conv)
    windows = _windows(a, b, o.window_days)
    rows = []
    log.info("routing training: %d reaches, gauges %s, %d warm-up days, %d windows of ~%d days, "
             "%d epochs, geometry %s, dt %.0f s", graph.n, gs.ids, a - w0, len(windows),
             o.window_days, o.epochs, o.geometry, o.dt)

    def evaluate():
        with torch.no_grad():
            r = _route(graph, lat[w0:b + 2], model(xt), opts, readout=gs.reach)
        sim = r.mean.numpy()[a - w0:]
        return sim, _nse(sim, obs[a:b + 1])

    for epoch in range(1, o.epochs + 1):
        t0 = time.process_time()
        with torch.no_grad():
            state = _route(graph, lat[w0:a + 1], model(xt), opts, readout=gs.reach).state
        losses, diag = [], None
        for wa, wb in windows:
            # records wa+1 … wb continue the pending day wa: days wa … wb−1
            r = _route(graph, lat[wa + 1:wb + 1], model(xt), opts, readout=gs.reach,
                       state=state)
            y = yt[wa:wb]
            if torch.isfinite(y).any():
                loss = loss_fn(r.mean * ct, y)
                optim.zero_grad()
                loss.backward()
                optim.step()
                losses.append(float(loss.detach()))
            state = _detached(r.state)
            diag = r.diagnostics if diag is None else diag + r.diagnostics
        _, nse = evaluate()
        rows.append({"epoch": epoch, "steps": len(losses), "loss": float(np.mean(losses)),
                     "train_nse": float(np.nanmean(nse)),
                     "cpu_seconds": round(time.process_time() - t0, 2)})
        log.info("routing epoch %d: loss %.4f, training NSE %s (%.1f s CPU); training windows: "
                 "%s", epoch, rows[-1]["loss"], np.round(nse, 4).tolist(),
                 rows[-1]["cpu_seconds"], diag.summary())
    sim, nse = evaluate()
    with torch.no_grad():
        n = model(xt).n.numpy()
    quant = dict(zip(("min", "p10", "p25", "median", "p75", "p90", "max"),
                     np.quantile(n, [0, 0.1, 0.25, 0.5, 0.75, 0.9, 1]).round(4).tolist()))
    log.info("routing: learned Manning n over %d reaches: %s", graph.n, quant)
    summary = {"train_nse": dict(zip(gs.ids, np.round(nse, 4).tolist())), "n_quantiles": quant,
               "cpu_seconds": round(time.process_time() - t_start, 1), "epochs": o.epochs}
    resolved = {"options": o.to_dict(), "attributes": list(stats.names),
                "inputs": {"network": str(network), "attributes": str(attributes),
                           "lateral": str(lateral), "observations": str(observations),
                           "gauge_table": str(gauge_table)},
                "gauges": gs.ids, "summary": summary}
    arch = {"n_attributes": x.shape[1], "hidden": o.hidden, "layers": o.layers,
            "learn_p": o.learn_p, "ranges": model.ranges}
    _write_run_dir(Path(run_dir), {
        "routing_model.pt": lambda p: torch.save({"state_dict": model.state_dict(),
                                                  "architecture": arch}, p),
        "attribute_statistics.json": stats.save,
        "options.yaml": lambda p: p.write_text(yaml.safe_dump(resolved, sort_keys=False)),
        "training_log.csv": lambda p: pd.DataFrame(rows, columns=[
            "epoch", "steps", "loss", "train_nse", "cpu_seconds"]).to_csv(p, index=False),
        "reaches.nc": lambda p: _reaches_dataset(graph, raw, stats.names).to_netcdf(p),
    })
    return summary


def _reaches_dataset(graph: RoutingGraph, raw: np.ndarray, names) -> xr.Dataset:
    down = np.where(graph.downstream >= 0, graph.ids[np.maximum(graph.downstream, 0)], 0)
    ds = xr.Dataset(
        {"downstream": ("reach", down.astype(np.int64),
                        {"long_name": "id of the downstream reach (0 = outlet)"}),
         "length_m": ("reach", graph.length_m, {"units": "m"}),
         "slope": ("reach", graph.slope, {"units": "1", "long_name": "bed slope (floored)"})},
        coords={"reach": ("reach", graph.ids.astype(np.int64), {"long_name": "MERIT COMID"})},
        attrs={"title": "network and raw routing attributes of a trained routing model"})
    for j, n in enumerate(names):
        ds[n] = ("reach", raw[:, j])
    return ds


def load_routing_run(run_dir) -> RoutingRun:
    """A run directory written by :func:`train_routing` (one-line error when incomplete)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DhbvInputError(f"routing run directory {run_dir} does not exist; train it first "
                             "(train_routing)")
    absent = [f for f in RUN_FILES if not (run_dir / f).is_file()]
    if absent:
        raise DhbvInputError(f"routing run directory {run_dir} lacks {absent[0]}; is it a "
                             "trained routing model? Re-train it")
    meta = yaml.safe_load((run_dir / "options.yaml").read_text()) or {}
    o = RoutingTrainingOptions(**meta.get("options", {}))
    ck = torch.load(run_dir / "routing_model.pt", weights_only=True)
    arch = ck["architecture"]
    model = RoutingParameterNetwork(arch["n_attributes"], hidden=arch["hidden"],
                                    layers=arch["layers"], learn_p=arch["learn_p"],
                                    n_range=arch["ranges"]["n"], q_range=arch["ranges"]["q"],
                                    p_range=arch["ranges"]["p"]).double()
    model.load_state_dict(ck["state_dict"])
    model.eval()
    stats = AttributeStatistics.load(run_dir / "attribute_statistics.json")
    with xr.open_dataset(run_dir / "reaches.nc") as ds:
        ids = ds["reach"].values.astype(np.int64)
        pos = {int(c): i for i, c in enumerate(ids)}
        down = np.array([pos.get(int(d), -1) for d in ds["downstream"].values], np.int64)
        graph = RoutingGraph(downstream=down, length_m=ds["length_m"].values,
                             slope=ds["slope"].values, ids=ids)
        raw = np.stack([ds[n].values for n in stats.names], axis=1)
    return RoutingRun(model, stats, o, graph, raw, meta)


def _applied(run: RoutingRun, network=None, attributes=None):
    """(graph, normalised attributes) of the run's own network or of another one."""
    if network is None and attributes is None:
        if "_x" not in run.meta:
            run.meta["_x"], _ = normalise(run.attributes, run.statistics,
                                          "routing attributes (run)")
        return run.graph, run.meta["_x"]
    if network is None or attributes is None:
        raise DhbvInputError("routing: give both a network and its attributes to apply a "
                             "trained model to another network")
    graph = load_graph(network)
    x, _, _ = reach_inputs(attributes, graph.ids, run.statistics)
    return graph, x


def channel_parameters_dataset(run: RoutingRun, network=None, attributes=None) -> xr.Dataset:
    """Learned n, q (and p) of every reach (CF NetCDF dataset)."""
    graph, x = _applied(run, network, attributes)
    p = run.parameters(x)
    n = p.n.numpy()
    q = torch.as_tensor(p.q).expand(graph.n).numpy()
    pw = torch.as_tensor(p.p, dtype=torch.float64).expand(graph.n).numpy()
    ds = xr.Dataset(
        {"n": ("reach", n, {"long_name": "Manning roughness coefficient", "units": "s m-1/3"}),
         "q": ("reach", q, {"long_name": "exponent of the top width T = p d^q",
                            "units": "1"}),
         "p": ("reach", pw, {"long_name": "coefficient of the top width T = p d^q",
                             "units": "m(1-q)", "comment": "fixed" if not run.options.learn_p
                             else "learned"})},
        coords={"reach": ("reach", graph.ids, {"long_name": "MERIT COMID"})},
        attrs={"Conventions": "CF-1.10", "title": "learned Muskingum-Cunge channel parameters",
               "geometry": run.options.geometry})
    return ds


def route_lateral(run: RoutingRun, lateral, period, *, network=None, attributes=None,
                  flow_scale: Gauges | None = None, readout=None):
    """(days, daily mean discharge [days, readout reaches] m³/s, graph) of the lateral inflow
    file routed with the trained model over ``period`` [start, end]; the run's
    ``warmup_days`` (as far as the file reaches) are routed first from the hot start."""
    from dhbv.config import parse_period

    graph, x = _applied(run, network, attributes)
    if period is None:
        lat = read_lateral(lateral, graph)
        a, b = 0, len(lat.time) - 2
        if b < a:
            raise DhbvInputError(f"lateral inflow file {lateral}: fewer than 2 days")
    else:
        start, end = parse_period(list(period), "--period")
        s, e = pd.Timestamp(start), pd.Timestamp(end)
        lat = read_lateral(lateral, graph, first=s - pd.Timedelta(days=run.options.warmup_days),
                           last=e + pd.Timedelta(days=1), clip_first=True,
                           what=f"--period {start}..{end} (the last day's mean needs the next "
                                "day's record)")
        if s < lat.time[0]:
            raise DhbvInputError(f"lateral inflow file {lateral}: --period {start}..{end} "
                                 f"starts before the file ({lat.time[0].date()}..); give "
                                 "another period or a longer file")
        a, b = int(lat.time.get_loc(s)), int(lat.time.get_loc(e))
    w0 = 0
    v = lat.values if flow_scale is None else flow_scale.scaled(lat.values)
    with torch.no_grad():
        r = _route(graph, v[w0:b + 2], run.parameters(x), run.options.routing_options(),
                   readout=readout)
    log.info("routing %s: %s", lateral, r.diagnostics.summary())
    return lat.time[a:b + 1], r.mean.numpy()[a - w0:], graph, lat


def discharge_dataset(days, q: np.ndarray, ids, run: RoutingRun, source: str) -> xr.Dataset:
    """CF dataset of routed daily mean discharge [time, reach] (m³/s, float32)."""
    return xr.Dataset(
        {"discharge": (("time", "reach"), q.astype(np.float32), {
            "standard_name": "water_volume_transport_in_river_channel", "units": "m3 s-1",
            "long_name": "daily mean routed discharge at the reach outlet",
            "cell_methods": "time: mean"})},
        coords={"time": ("time", pd.DatetimeIndex(days), {"standard_name": "time"}),
                "reach": ("reach", np.asarray(ids, np.int64), {"long_name": "MERIT COMID"})},
        attrs={"Conventions": "CF-1.10",
               "title": "Muskingum-Cunge routed daily discharge (dhbv.routing)",
               "source": f"lateral inflow {source}", "geometry": run.options.geometry,
               "routing_dt_s": float(run.options.dt),
               "day_alignment": "day d = mean of hours 24d+10 .. 24d+33 (UTC) of the records"})


def route_lateral_file(run_dir, lateral, out, period=None, *, network=None,
                       attributes=None) -> Path:
    """Route a lateral-inflow file with a trained run and write the daily discharge of every
    reach to ``out`` (NetCDF, atomic). ``period`` [start, end] or None (the whole file but its
    last day)."""
    from dhbv.io.atomic import check_output_path
    from dhbv.io.standard import write_netcdf

    check_output_path(out, "--out")
    run = load_routing_run(run_dir)
    days, q, graph, lat = route_lateral(run, lateral, period, network=network,
                                        attributes=attributes)
    return write_netcdf(discharge_dataset(days, q, graph.ids, run, str(lateral)), out)


def score_routing(run: RoutingRun, lateral, observations, gauge_table, gauges) -> pd.DataFrame:
    """NSE, KGE and peak error (rd_max: relative error of the largest flow) of the routed and
    the unrouted (same-day sum of the upstream lateral inflow) flow at every gauge, over the
    run's training and test periods. One row per gauge, period and flow."""
    from dhbv.evaluation.metrics import kge, nse, peak_timing, rd_max

    gs = read_gauges(gauge_table, gauges, run.graph)
    o = run.options
    periods = {"train": o.train_period}
    if o.test_period:
        periods["test"] = o.test_period
    last = max(pd.Timestamp(p[1]) for p in periods.values())
    first = min(pd.Timestamp(p[0]) for p in periods.values())
    days, routed, graph, lat = route_lateral(run, lateral, [str(first.date()), str(last.date())],
                                             flow_scale=gs, readout=gs.reach)
    up = gs.upstream_mask(graph)
    scaled = gs.scaled(lat.values)
    t = lat.time
    unrouted = scaled[t.get_indexer(days)] @ up.T.astype(np.float64)
    obs = read_observations(observations, gs, pd.DatetimeIndex(days))
    rows = []
    for pname, (pa, pb) in periods.items():
        m = (days >= pd.Timestamp(pa)) & (days <= pd.Timestamp(pb))
        for g, gid in enumerate(gs.ids):
            for flow, sim in (("routed", routed), ("unrouted", unrouted)):
                s, y = sim[m, g], obs[m, g]
                rows.append({"gauge": gid, "period": pname, "start": pa, "end": pb,
                             "flow": flow, "days": int(np.isfinite(y).sum()),
                             "nse": float(nse(s, y)), "kge": float(kge(s, y)),
                             "peak_error": float(rd_max(s, y)),
                             "peak_timing_days": float(peak_timing(s, y))})
    return pd.DataFrame(rows)


def route_flows(run_dir, lateral, observations, gauge_table, gauges, *, parameters_out,
                scores_out, discharge_out=None, period=None) -> pd.DataFrame:
    """Apply a trained routing run on its network: learned n, q per reach (NetCDF), scores of
    routed and unrouted flow at the gauges (CSV) and, with ``discharge_out``, the routed daily
    discharge of every reach over ``period`` (None: the whole lateral file but its last day;
    NetCDF; the workflow writes it in time chunks instead, :mod:`dhbv.routing.chunks`). All or
    nothing."""
    from dhbv.io.atomic import atomic_outputs

    run = load_routing_run(run_dir)
    pars = channel_parameters_dataset(run)
    dis = None
    if discharge_out is not None:
        days, q, graph, _ = route_lateral(run, lateral, period)
        dis = discharge_dataset(days, q, graph.ids, run, str(lateral))
    scores = score_routing(run, lateral, observations, gauge_table, gauges)
    n = pars["n"].values
    log.info("learned n: min %.4f, p10 %.4f, median %.4f, p90 %.4f, max %.4f",
             *np.quantile(n, [0, 0.1, 0.5, 0.9, 1]))
    with atomic_outputs(parameters_out, discharge_out, scores_out) as (tp, td, ts):
        pars.to_netcdf(tp)
        if dis is not None:
            dis.to_netcdf(td)
        scores.to_csv(ts, index=False, float_format="%.4f")
    log.info("routing scores:\n%s", scores.to_string(index=False))
    return scores


__all__ = ["ROUTING_ATTRIBUTES", "RoutingRun", "RoutingTrainingOptions", "channel_parameters_dataset",
           "load_graph", "load_routing_run", "read_lateral", "route_flows", "route_lateral",
           "route_lateral_file", "score_routing", "train_routing"]
