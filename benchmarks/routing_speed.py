"""Speed of the Muskingum–Cunge router on a synthetic CONUS-size MERIT-like tree.

Builds a dendritic tree of ``--reaches`` reaches with a main stem of ``--stem`` reaches (about
as many topological levels; ``dhbv.routing.synthetic``), float32 geometry, and times hourly
steps of ``dhbv.routing.route`` (daily means of every reach accumulated in the loop) forward
and forward + backward (gradients to n, q and the lateral inflow), for each geometry and
numba thread count. The baseline, in the same process, solves each step with
``scipy.sparse.linalg.spsolve_triangular`` (coefficients vectorised in torch/numpy, the matrix
pattern built once and only its values updated per step) and, for the backward, solves the
transposed system per step the same way (see ``Baseline``). Prints ms per hourly step, ns per
reach-step and the ratios (baseline time / ours).

The same is done for the NWM RouteLink networks shipped in ``resources/demo/nwm_routelink``
(``--routelink``; reaches ordered upstream first, Length and So of the file, synthetic
lateral inflow).

Every time is the median and the best of ``--repeats`` runs (after one untimed warm-up call of
ours; ours and the baseline measured in the same process), the ratios are of the medians.

Usage: python benchmarks/routing_speed.py [--reaches 180000] [--stem 3000] [--days 2]
       [--threads 1,2] [--geometry wide,trapezoid_exact] [--baseline-steps 3] [--repeats 3]
       [--clock wall|cpu] [--routelink FILE,FILE|none] [--wet-fraction 1.0]

``--wet-fraction F`` gives lateral inflow to a random fraction F of the reaches only (the rest
get none, as dry headwaters do, and most of them sit at the floor q_min: the clamp path).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import dhbv  # noqa: F401  (first: sets OMP_WAIT_POLICY=PASSIVE before torch loads OpenMP)
import numba
import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import spsolve_triangular

from dhbv.routing import ChannelParameters, RoutingGraph, RoutingOptions, route
from dhbv.routing.reference import reference_travel_time
from dhbv.routing.synthetic import synthetic_lateral, synthetic_network


def _params(n: int, seed: int = 0, grad: bool = False):
    rng = np.random.default_rng(seed)
    mann = torch.as_tensor(rng.uniform(0.015, 0.25, n).astype(np.float32))
    expo = torch.as_tensor(rng.uniform(0.0, 1.0, n).astype(np.float32))
    return mann.requires_grad_(grad), expo.requires_grad_(grad)


CLOCK = time.perf_counter
ROUTELINK = Path(__file__).resolve().parents[1] / "resources" / "demo" / "nwm_routelink"


def routelink_network(path) -> tuple:
    """(RoutingGraph, level count) of an NWM RouteLink file, reaches ordered upstream first."""
    import xarray as xr

    with xr.open_dataset(path) as ds:
        link = ds["link"].values.astype(np.int64)
        to = ds["to"].values.astype(np.int64)
        length = ds["Length"].values.astype(np.float64)
        slope = ds["So"].values.astype(np.float64)
    pos = {int(v): i for i, v in enumerate(link)}
    down = np.array([pos.get(int(v), -1) for v in to], np.int64)
    dist = np.full(link.size, -1, np.int64)  # reaches to the outlet
    for i in range(link.size):
        path_, j = [], i
        while j >= 0 and dist[j] < 0:
            path_.append(j)
            j = down[j]
        d = dist[j] if j >= 0 else -1
        for k in reversed(path_):
            d += 1
            dist[k] = d
    order = np.argsort(-dist, kind="stable")  # farthest first: downstream has a higher index
    new = np.empty(link.size, np.int64)
    new[order] = np.arange(link.size)
    down_sorted = np.where(down[order] >= 0, new[np.maximum(down[order], 0)], -1)
    graph = RoutingGraph(down_sorted, np.maximum(length[order], 1.0), np.maximum(slope[order],
                                                                                 1e-5),
                         ids=link[order])
    return graph, int(dist.max()) + 1


def time_ours(graph, lat, geometry: str, repeats: int, backward: bool):
    """Best (ms per step) of ``repeats`` calls: forward, or forward + backward."""
    opts = RoutingOptions(geometry=geometry)
    n_steps = lat.shape[0] * 24
    times = []
    for rep in range(repeats + 1):  # the first call compiles / warms up
        mann, expo = _params(graph.n, grad=backward)
        lat_in = lat.clone().requires_grad_(backward)
        t0 = CLOCK()
        res = route(graph, lat_in, ChannelParameters(n=mann, q=expo), options=opts,
                    day_offset_hours=0)
        if backward:
            res.mean.sum().backward()
        if rep:
            times.append((CLOCK() - t0) / n_steps * 1e3)
    return statistics.median(times), res


class Baseline:
    """Per-step scipy triangular solves of (I − diag(C1)·N)·Q(t+1) = b.

    K(Q) by the plain-torch geometry (``reference_travel_time``, float64, vectorised); the
    matrix pattern is built once and only its values change per step. The backward solves
    the transposed system per step and gets dK/d(Q, n, q) by torch autograd of the geometry.
    """

    def __init__(self, graph, lat, geometry: str, q_min=1e-4):
        n = graph.n
        self.graph = graph
        self.opts = RoutingOptions(geometry=geometry)
        self.params = [p.double().requires_grad_() for p in _params(n)]
        self.lat = np.maximum(lat.numpy().astype(np.float64), q_min)
        self.dt, self.x, self.q_min = self.opts.dt, self.opts.x, q_min
        has = graph.downstream >= 0
        rows, cols = graph.downstream[has].astype(np.int64), np.flatnonzero(has)
        self.net = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
        pat = (sp.identity(n, format="csr") + self.net).tocsr()
        pat.sort_indices()
        self.a = pat
        r = np.repeat(np.arange(n), np.diff(pat.indptr))
        self.off = pat.indices != r
        self.off_rows = r[self.off]
        a0 = (sp.identity(n, format="csr") - self.net).tocsr()
        self.q0 = spsolve_triangular(a0, self.lat[0], lower=True, unit_diagonal=True)

    def travel_time(self, q):
        return reference_travel_time(q, self.graph, ChannelParameters(*self.params), self.opts)

    def coefficients(self, k):
        den = 2 * k * (1 - self.x) + self.dt
        return ((self.dt - 2 * k * self.x) / den, (self.dt + 2 * k * self.x) / den,
                (2 * k * (1 - self.x) - self.dt) / den, 2 * self.dt / den)

    def forward(self, n_steps: int):
        q = self.q0.copy()
        states = [q]
        for t in range(n_steps):
            with torch.no_grad():
                k = self.travel_time(torch.from_numpy(q)).numpy()
            c1, c2, c3, c4 = self.coefficients(k)
            b = c2 * (self.net @ q) + c3 * q + c4 * self.lat[t // 24]
            self.a.data[self.off] = -c1[self.off_rows]
            q = np.maximum(spsolve_triangular(self.a, b, lower=True, unit_diagonal=True),
                           self.q_min)
            states.append(q)
        return states

    def backward(self, states, g):
        """Adjoint sweep over the stored states (g = dL/dQ(T)); returns dL/dn, dL/dq."""
        grads = [torch.zeros_like(p) for p in self.params]
        for t in range(len(states) - 2, -1, -1):
            q, q1 = states[t], states[t + 1]
            qt = torch.from_numpy(q).requires_grad_()
            kt = self.travel_time(qt)
            k = kt.detach().numpy()
            c1, c2, c3, c4 = self.coefficients(k)
            self.a.data[self.off] = -c1[self.off_rows]
            lam = spsolve_triangular(self.a.T.tocsr(), g * (q1 > self.q_min), lower=False,
                                     unit_diagonal=True)
            den = 2 * k * (1 - self.x) + self.dt
            kb = 2 * self.dt / den ** 2 * (
                -lam * (self.net @ q1) + (2 * self.x - 1) * lam * (self.net @ q)
                + 2 * (1 - self.x) * lam * (q - self.lat[t // 24]))
            gq, *gp = torch.autograd.grad(kt, [qt, *self.params], torch.from_numpy(kb))
            for acc, gi in zip(grads, gp):
                acc += gi
            g = lam * c3 + gq.numpy() + self.net.T @ (c2 * lam)
        return grads


def time_baseline(base: Baseline, n_steps: int, backward: bool, repeats: int):
    """Median (ms per step) of ``repeats`` runs of ``n_steps`` steps, and the last states."""
    times = []
    for _ in range(repeats):
        t0 = CLOCK()
        states = base.forward(n_steps)
        if backward:
            base.backward(states, np.ones(states[0].size))
        times.append((CLOCK() - t0) / n_steps * 1e3)
    return statistics.median(times), states


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reaches", type=int, default=180_000)
    ap.add_argument("--stem", type=int, default=3_000)
    ap.add_argument("--days", type=int, default=2)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--geometry", default="wide,trapezoid_exact")
    ap.add_argument("--baseline-steps", type=int, default=3)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: process CPU time (robust to other jobs on a shared machine; "
                         "sums the threads, so use it with --threads 1)")
    ap.add_argument("--wet-fraction", type=float, default=1.0,
                    help="fraction of the reaches with lateral inflow (the others get none)")
    ap.add_argument("--routelink", default="shipped",
                    help="NWM RouteLink files (comma-separated), 'shipped' (those in "
                         "resources/demo/nwm_routelink) or 'none'")
    a = ap.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if a.clock == "cpu" else time.perf_counter
    torch.set_num_threads(1)  # the router's work runs in numba; keep torch's pool out of its way
    nets = [("synthetic",) + synthetic_network(a.reaches, a.stem)]
    if a.routelink != "none":
        files = (sorted(ROUTELINK.glob("RouteLink_*.nc")) if a.routelink == "shipped"
                 else [Path(f) for f in a.routelink.split(",")])
        nets += [(f.stem.replace("RouteLink_", ""),) + routelink_network(f) for f in files]
    import os

    print(f"{a.days * 24} hourly steps per call; lateral inflow on {a.wet_fraction:.0%} of the "
          f"reaches; {a.clock} clock; load average "
          f"{os.getloadavg()[0]:.1f}; medians of {a.repeats} (ours and the baseline "
          "interleaved in this process)")
    for name, graph, n_levels in nets:
        n = graph.n
        lat = synthetic_lateral(a.days, n)
        if a.wet_fraction < 1.0:
            lat *= np.random.default_rng(2).random(n) < a.wet_fraction
        lat = torch.as_tensor(lat)
        print(f"network {name}: {n} reaches, {n_levels} levels")
        print(f"{'geometry':16s} {'thr':>3s} {'fwd ms/step':>11s} {'ns/reach-step':>13s} "
              f"{'x baseline':>10s} {'fwd+bwd ms':>10s} {'ns/reach-step':>13s} "
              f"{'x baseline':>10s} {'bwd/fwd':>7s}")
        for geometry in a.geometry.split(","):
            base = Baseline(graph, lat, geometry)
            b_fwd, states = time_baseline(base, a.baseline_steps, False, a.repeats)
            b_both, _ = time_baseline(base, a.baseline_steps, True, a.repeats)
            check = route(graph, lat[:1].double(),
                          ChannelParameters(*[p.double() for p in _params(n)]),
                          options=RoutingOptions(geometry=geometry), average_seconds=3600.0,
                          day_offset_hours=0).mean[a.baseline_steps - 1].numpy()
            diff = np.max(np.abs(check - states[-1]) / states[-1])
            print(f"{geometry:16s} {'scipy':>3s} {b_fwd:11.3f} {b_fwd * 1e6 / n:13.1f} "
                  f"{'':10s} {b_both:10.3f} {b_both * 1e6 / n:13.1f}   (baseline; ours in "
                  f"float64 after {a.baseline_steps} steps differs by {diff:.1e})")
            for threads in [int(t) for t in a.threads.split(",")]:
                numba.set_num_threads(threads)
                fwd, res = time_ours(graph, lat, geometry, a.repeats, False)
                both, _ = time_ours(graph, lat, geometry, a.repeats, True)
                print(f"{geometry:16s} {threads:3d} {fwd:11.3f} {fwd * 1e6 / n:13.1f} "
                      f"{b_fwd / fwd:10.1f} {both:10.3f} {both * 1e6 / n:13.1f} "
                      f"{b_both / both:10.1f} {(both - fwd) / fwd:7.2f}")
        print(f"negative solves in the last forward: {res.diagnostics.n_negative} of "
              f"{res.diagnostics.n_steps * n} reach-steps")
    print(f"numba threading layer {numba.threading_layer()}")


if __name__ == "__main__":
    main()
