"""Linear Muskingum on a RAPID case (David et al. 2011): the router's exact validation.

RAPID routes external inflow Qext (held over each forcing interval) through a network with
per-reach k [s] and x; each forcing interval is split into routing steps of ``IS_dtR`` s
and its output Qout is the mean of the discharge at the *start* of those steps. Its
coefficients, C1 = (Δt/2 − kx)/(k(1−x) + Δt/2), … are those of docs/routing.md §1 with the
inflow entering at the upstream end, so ``route`` with geometry "linear",
``convention="start"`` and no floors reproduces it. Reads the layout of the RAPID2 test
cases: ``rapid_connect_*.csv`` (id, downstream id or 0), ``k_*.csv``, ``x_*.csv`` (aligned with
the connect file), ``riv_bas_id_*.csv``, ``namelist_*.yml`` (``IS_dtR``), ``Qext_*.nc4`` and
``Qinit_*.nc4``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dhbv.errors import DhbvInputError

from .geometry import ChannelParameters
from .graph import RoutingGraph
from .options import RoutingOptions
from .solver import RoutingState, route


@dataclass
class RapidCase:
    """A RAPID case in topological order: graph, k [s], x, dt [s], Qext [T, n] (m³/s),
    forcing interval [s] and initial discharge [n] (m³/s); ``ids`` = river ids."""

    graph: RoutingGraph
    k: np.ndarray
    x: np.ndarray
    dt: float
    qext: np.ndarray
    record_seconds: float
    q0: np.ndarray

    @property
    def ids(self) -> np.ndarray:
        return self.graph.ids


def _one(directory: Path, pattern: str) -> Path:
    found = sorted(directory.rglob(pattern))
    if len(found) != 1:
        raise DhbvInputError(f"{directory}: expected one {pattern}, found {len(found)}")
    return found[0]


def _column(path: Path, col: int = 0) -> np.ndarray:
    return np.atleast_2d(np.loadtxt(path, delimiter=",", ndmin=2))[:, col]


def read_rapid_case(directory) -> RapidCase:
    """Read a RAPID case directory (input files anywhere below it)."""
    import xarray as xr
    import yaml

    from dhbv.network import topology_from_table

    directory = Path(directory)
    connect = np.loadtxt(_one(directory, "rapid_connect_*.csv"), delimiter=",", ndmin=2)
    ids_all, down_all = connect[:, 0].astype(np.int64), connect[:, 1].astype(np.int64)
    k_all = _column(_one(directory, "k_*.csv"))
    x_all = _column(_one(directory, "x_*.csv"))
    basin = _column(_one(directory, "riv_bas_id_*.csv")).astype(np.int64)
    with open(_one(directory, "namelist_*.yml")) as fh:
        dt = float(yaml.safe_load(fh)["IS_dtR"])
    pos = {int(r): i for i, r in enumerate(ids_all)}
    sel = np.array([pos[int(r)] for r in basin])
    topo = topology_from_table(basin, down_all[sel], source="rapid_connect")
    rows = sel[[int(np.flatnonzero(basin == c)[0]) for c in topo.comid]]
    with xr.open_dataset(_one(directory, "Qext_*.nc4")) as ds:
        qext = ds["Qext"].sel(rivid=topo.comid).values.astype(np.float64)
        bounds = ds["time_bnds"].values
        record = float((bounds[0, 1] - bounds[0, 0]) / np.timedelta64(1, "s"))
    with xr.open_dataset(_one(directory, "Qinit_*.nc4")) as ds:
        q0 = ds["Qout"].sel(rivid=topo.comid).values[0].astype(np.float64)
    n = topo.n
    graph = RoutingGraph(topo.downstream, np.ones(n), np.ones(n), ids=topo.comid)
    return RapidCase(graph, k_all[rows], x_all[rows], dt, qext, record, q0)


def run_rapid_case(case: RapidCase, convention: str = "start"):
    """(Qout [T, n], Qfinal [n]) in the case's topological order, float64 numpy.

    ``convention="end"`` averages the states after each step instead (not RAPID's output).
    """
    opts = RoutingOptions(geometry="linear", dt=case.dt, q_min=0.0, x=0.0)
    state = RoutingState(torch.as_tensor(case.q0), torch.zeros(case.graph.n, dtype=torch.float64))
    pars = ChannelParameters(k=torch.as_tensor(case.k))
    res = route(case.graph, torch.as_tensor(case.qext), pars,
                options=opts, record_seconds=case.record_seconds, convention=convention,
                state=state, x=case.x)
    return res.mean.numpy(), res.state.discharge.numpy()
