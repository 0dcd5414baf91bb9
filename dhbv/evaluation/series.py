"""Paired simulated/observed streamflow series shared by every metric (docs/evaluation.md §2).

:class:`Paired` validates one series or a [gauge, time] array pair once and keeps what the
metrics need: the valid days, per-gauge sample sizes, moments and the independently sorted
(flow-duration-curve) series. :func:`metric` turns a function of a :class:`Paired` into the
public metric that accepts plain arrays.

Rules (docs/evaluation.md §2):

* a day is *scored* when the optional ``mask`` is True there (default: every day);
* a scored day with a missing (NaN/inf) observation is dropped; the fraction of scored days
  with a missing observation is kept as ``missing_fraction``;
* a negative observation is an input error;
* a non-finite simulation on a day with an observation is an error (a broken model or
  forcing gap) unless ``allow_nan_sim=True``, which drops those days too (third-party
  simulations such as the NWM retrospective);
* a negative simulation on such a day is an error unless ``clip_negative_sim=True``, which
  sets it to 0 (external series; dhbv's own outputs are non-negative by construction).
"""
from __future__ import annotations

from functools import cached_property

import numpy as np

from dhbv.errors import DhbvInputError

__all__ = ["Paired", "gauge_rows", "metric", "ratio"]


def ratio(num, den):
    """Element-wise ``num / den`` with NaN where ``den`` is 0 or NaN (no warnings)."""
    num, den = np.broadcast_arrays(np.asarray(num, np.float64), np.asarray(den, np.float64))
    out = np.full(num.shape, np.nan)
    ok = np.isfinite(den) & (den != 0)
    np.divide(num, den, out=out, where=ok)
    return out


def gauge_rows(sim, obs, mask=None, axis: int = -1):
    """Validate shapes and return (sim, obs, mask) as float64/bool [gauge, time] plus ``one_d``.

    ``axis`` is the time axis of 2-D input (-1/1: [gauge, time], 0/-2: [time, gauge]); a 1-D
    series becomes one row. ``mask`` (default all True) must broadcast to the input shape.
    """
    s = np.asarray(sim, dtype=np.float64)
    o = np.asarray(obs, dtype=np.float64)
    if s.shape != o.shape:
        raise DhbvInputError(f"simulation shape {s.shape} != observation shape {o.shape}; "
                             "align both series on the same gauges and dates first")
    if s.ndim not in (1, 2):
        raise DhbvInputError(f"metrics take one series [time] or a [gauge, time] array, got "
                             f"{s.ndim} dimensions {s.shape}")
    if axis not in (-2, -1, 0, 1):
        raise DhbvInputError(f"time axis must be 0 or 1 (or -1, -2), got {axis}")
    if mask is None:
        m = np.ones(s.shape, dtype=bool)
    else:
        try:
            m = np.broadcast_to(np.asarray(mask, dtype=bool), s.shape)
        except ValueError:
            raise DhbvInputError(f"scoring mask of shape {np.shape(mask)} does not broadcast "
                                 f"to the series shape {s.shape}") from None
    if s.ndim == 1:
        return s[None, :], o[None, :], m[None, :], True
    if axis in (0, -2):
        return s.T, o.T, m.T, False
    return s, o, m, False


def _first(flags: np.ndarray) -> tuple[int, int, int]:
    """(gauge row, time index, count in that row) of the first True in ``flags`` [G, T]."""
    g, t = np.argwhere(flags)[0]
    return int(g), int(t), int(flags[g].sum())


class Paired:
    """Validated simulation/observation pairs as [gauge, time] float64 arrays.

    Parameters
    ----------
    sim, obs : array-like, same shape: one series [time] or [gauge, time] / [time, gauge]
        Simulated and observed streamflow (mm d-1 for the unit-dependent metrics).
    axis : int
        The time axis of 2-D inputs: -1 or 1 for [gauge, time] (default), 0 or -2 for
        [time, gauge]. Ignored for 1-D input.
    names : str or sequence of str, optional
        Gauge name(s) used in error messages (default ``"series"`` / ``"row i"``).
    mask : bool array broadcastable to the input shape, optional
        True on the days to score (e.g. False inside a gauge's training window). Days outside
        the mask are ignored completely: they neither count as valid nor as missing.
    allow_nan_sim, clip_negative_sim : bool
        See the module docstring.

    Attributes: ``s``, ``o`` [G, T] (NaN on days that are not valid pairs), ``valid`` [G, T],
    ``n`` [G] valid pairs, ``n_scored`` [G] scored days, ``missing_fraction`` [G],
    ``names``, ``one_d``.
    """

    def __init__(self, sim, obs, *, axis: int = -1, names=None, mask=None,
                 allow_nan_sim: bool = False, clip_negative_sim: bool = False):
        s, o, m, self.one_d = gauge_rows(sim, obs, mask, axis)
        self.names = self._names(names, s.shape[0])

        obs_ok = m & np.isfinite(o)
        with np.errstate(invalid="ignore"):
            neg_obs = obs_ok & (o < 0)
            if neg_obs.any():
                g, t, k = _first(neg_obs)
                raise DhbvInputError(f"{self.names[g]}: {k} negative observation(s) (first "
                                     f"{o[g, t]:g} at time index {t}); streamflow must be >= 0, "
                                     "mark gaps as NaN")
            bad_sim = obs_ok & ~np.isfinite(s)
            if bad_sim.any() and not allow_nan_sim:
                g, t, k = _first(bad_sim)
                raise DhbvInputError(f"{self.names[g]}: simulation is NaN/inf on {k} observed "
                                     f"day(s) (first at time index {t}); the model or its inputs "
                                     "are broken (check forcing gaps), or pass allow_nan_sim for "
                                     "an external series")
            neg_sim = obs_ok & (s < 0)
            if neg_sim.any():
                if not clip_negative_sim:
                    g, t, k = _first(neg_sim)
                    raise DhbvInputError(f"{self.names[g]}: {k} negative simulated flow(s) (first "
                                         f"at time index {t}); dhbv outputs are >= 0, pass "
                                         "clip_negative_sim for an external series")
                s = np.where(neg_sim, 0.0, s)
        self.valid = obs_ok & np.isfinite(s)
        self.s = np.where(self.valid, s, np.nan)
        self.o = np.where(self.valid, o, np.nan)
        self.n = self.valid.sum(axis=1)
        self.n_scored = m.sum(axis=1)
        self.missing_fraction = 1.0 - ratio(obs_ok.sum(axis=1), self.n_scored)

    def _names(self, names, n_rows: int) -> list[str]:
        if names is None:
            return ["series"] if self.one_d else [f"row {i}" for i in range(n_rows)]
        if isinstance(names, str):
            names = [names] * n_rows if self.one_d else [names]
        names = [str(x) for x in names]
        if len(names) != n_rows:
            raise DhbvInputError(f"{len(names)} gauge names for {n_rows} series")
        return names

    # ---- per-gauge statistics, computed once ------------------------------------------------
    def masked_sum(self, x) -> np.ndarray:
        """Σ over the valid days of ``x`` [G, T] → [G]."""
        return np.where(self.valid, x, 0.0).sum(axis=1)

    @cached_property
    def mean_s(self) -> np.ndarray:
        return ratio(self.masked_sum(self.s), self.n)

    @cached_property
    def mean_o(self) -> np.ndarray:
        return ratio(self.masked_sum(self.o), self.n)

    @cached_property
    def dev_s(self) -> np.ndarray:
        return np.where(self.valid, self.s - self.mean_s[:, None], 0.0)

    @cached_property
    def dev_o(self) -> np.ndarray:
        return np.where(self.valid, self.o - self.mean_o[:, None], 0.0)

    @cached_property
    def std_s(self) -> np.ndarray:
        """Population standard deviation (ddof = 0) of the simulation [G]."""
        return np.sqrt(ratio((self.dev_s ** 2).sum(axis=1), self.n))

    @cached_property
    def std_o(self) -> np.ndarray:
        """Population standard deviation (ddof = 0) of the observations [G]."""
        return np.sqrt(ratio((self.dev_o ** 2).sum(axis=1), self.n))

    @cached_property
    def r(self) -> np.ndarray:
        """Pearson correlation [G]; NaN with < 2 pairs or a constant series."""
        cov = ratio((self.dev_s * self.dev_o).sum(axis=1), self.n)
        return np.where(self.n >= 2, ratio(cov, self.std_s * self.std_o), np.nan)

    @cached_property
    def sorted_s(self) -> np.ndarray:
        """Simulation sorted ascending per gauge; positions ≥ n are NaN."""
        return np.sort(self.s, axis=1)

    @cached_property
    def sorted_o(self) -> np.ndarray:
        """Observations sorted ascending per gauge (independently of ``sorted_s``)."""
        return np.sort(self.o, axis=1)

    def positions(self, lo, hi) -> np.ndarray:
        """Bool [G, T]: ascending-sort positions k with lo ≤ k < hi (per-gauge bounds)."""
        k = np.arange(self.s.shape[1])[None, :]
        return (k >= np.asarray(lo)[..., None]) & (k < np.asarray(hi)[..., None])

    def finish(self, values, min_days: int | None = None):
        """Per-gauge values → float (1-D input) or [G] array; NaN where n < ``min_days``."""
        v = np.asarray(values, dtype=np.float64)
        if min_days is not None:
            v = np.where(self.n >= int(min_days), v, np.nan)
        return float(v[0]) if self.one_d else v


_COMMON_DOC = """
    Inputs: ``sim``, ``obs`` as one series [time] (returns a float) or a 2-D array (returns
    one value per gauge); ``axis`` = the time axis of 2-D input (-1: [gauge, time], 0:
    [time, gauge]); ``name`` = gauge name(s) for error messages; ``mask`` = days to score;
    ``min_days`` = NaN for gauges with fewer valid pairs; ``allow_nan_sim`` /
    ``clip_negative_sim`` for external simulations (see :class:`dhbv.evaluation.series.Paired`).
    Raises :class:`dhbv.errors.DhbvInputError` on mismatched shapes, negative observations,
    NaN or negative simulations.
"""


def metric(core):
    """Public metric from ``core(p: Paired, **options) -> [G] array`` (or a tuple of them).

    The returned function is ``f(sim, obs, *, axis=-1, name=None, mask=None, min_days=None,
    allow_nan_sim=False, clip_negative_sim=False, **options)``; ``f.core`` is ``core``.
    """
    def public(sim, obs, *, axis: int = -1, name=None, mask=None, min_days: int | None = None,
               allow_nan_sim: bool = False, clip_negative_sim: bool = False, **options):
        p = Paired(sim, obs, axis=axis, names=name, mask=mask, allow_nan_sim=allow_nan_sim,
                   clip_negative_sim=clip_negative_sim)
        with np.errstate(all="ignore"):
            out = core(p, **options)
        if isinstance(out, tuple):
            return tuple(p.finish(x, min_days) for x in out)
        return p.finish(out, min_days)

    public.__name__ = public.__qualname__ = core.__name__.lstrip("_")
    public.__module__ = core.__module__
    public.__doc__ = (core.__doc__ or "").rstrip() + "\n" + _COMMON_DOC
    public.core = core
    return public
