"""Inputs of a domain simulation over one time window, read from the standard forms.

Only the window (chunk plus spin-up) of the unit forcing is read, so memory follows the chunk
length, not the record. Unlike the gauge simulation, no forcing gap is filled: a missing value
inside the window stops the run naming the unit and the day (a domain product must not carry
interpolated days silently).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from dhbv.datasets.basin_data import HBV_ELEV, HBV_UPAREA
from dhbv.datasets.dataset import forcing_names
from dhbv.errors import DhbvInputError
from dhbv.io import standard as std


@dataclass
class DomainInputs:
    """Raw inputs of every unit over a window (the fields :func:`dhbv.runner.prepare` reads).

    forcing [T, U, V] in ``forcing_names`` order (P mm d-1, T °C, PET mm d-1, then any further
    network inputs), attributes [U, A] (raw units), uparea [U] km², elev [U] m, lat/lon [U]
    degrees, area [U] km².
    """

    time: pd.DatetimeIndex
    unit_ids: list[str]
    forcing: np.ndarray
    forcing_names: tuple[str, ...]
    attribute_names: list[str]
    attributes: np.ndarray
    uparea: np.ndarray
    elev: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    area: np.ndarray


def _open_forcing(path) -> xr.Dataset:
    try:
        return xr.open_dataset(path)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError):
        return std.read_unit_forcing(path)  # raises its one-line error for the file


def load_window(forcing_path, attributes_path, attribute_names, dynamic_inputs, start, end
                ) -> DomainInputs:
    """Every unit's forcing over [start, end] (inclusive dates) and its attributes."""
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    names = forcing_names(dynamic_inputs)
    with _open_forcing(forcing_path) as f:
        t = pd.DatetimeIndex(f["time"].values).normalize()
        if len(t) == 0 or start < t[0] or end > t[-1]:
            rng = f"{t[0].date()}..{t[-1].date()}" if len(t) else "nothing"
            raise DhbvInputError(f"unit forcing {forcing_path} covers {rng}, but the simulation "
                                 f"needs {start.date()}..{end.date()} (chunk and spin-up); shorten "
                                 "the period or the spin-up, or extend the forcing")
        i0, i1 = t.get_loc(start), t.get_loc(end)
        win = f.isel(time=slice(i0, i1 + 1)).load()
    win = win.assign_coords(time=t[i0:i1 + 1], unit=[str(u) for u in win["unit"].values])
    std.validate_unit_forcing(win, f"unit forcing {forcing_path}")
    missing = [v for v in names if v not in win]
    if missing:
        raise DhbvInputError(f"unit forcing {forcing_path} lacks the daily variable "
                             f"'{missing[0]}' the model reads; add it")
    unit_ids = [str(u) for u in win["unit"].values]
    forcing = np.stack([win[v].transpose("time", "unit").values for v in names], -1
                       ).astype(np.float32)
    bad = ~np.isfinite(forcing).all(axis=-1)
    if bad.any():
        ti, ui = np.argwhere(bad)[0]
        raise DhbvInputError(
            f"unit {unit_ids[ui]}: forcing gap on {win['time'].values[ti].astype('M8[D]')} inside "
            f"the simulated window {start.date()}..{end.date()} ({int(bad.sum())} unit-days "
            "missing); fill the forcing")
    a = std.read_unit_attributes(attributes_path)
    have = set(map(str, a["unit"].values))
    lacking = [u for u in unit_ids if u not in have]
    if lacking:
        raise DhbvInputError(f"unit attributes {attributes_path} lack {len(lacking)} unit(s) of "
                             f"the forcing (first: {lacking[0]}); add their attributes")
    a = a.reindex(unit=unit_ids)
    std.validate_unit_attributes(a, [HBV_UPAREA, HBV_ELEV], f"unit attributes {attributes_path}")
    for n in attribute_names:
        if n not in a:
            raise DhbvInputError(f"unit attributes {attributes_path}: attribute '{n}' of "
                                 "model.attributes is missing; add it")
    attrs = (np.stack([a[n].values for n in attribute_names], -1) if attribute_names
             else np.zeros((len(unit_ids), 0)))
    return DomainInputs(pd.DatetimeIndex(win["time"].values), unit_ids, forcing, names,
                        list(attribute_names), attrs.astype(np.float64),
                        a[HBV_UPAREA].values.astype(np.float64),
                        a[HBV_ELEV].values.astype(np.float64),
                        np.asarray(win["lat"].values, float), np.asarray(win["lon"].values, float),
                        np.asarray(win["area"].values, float))


def slice_domain_forcing(forcing_path, out_path, chunk: str, *, first: bool, spinup_days):
    """Rule ``slice_domain_forcing``: the unit forcing of one chunk (``YYYYMMDD-YYYYMMDD``), the
    first chunk with its spin-up days before it (``spinup_days``: days, shortened to the forcing
    start, or ``"full"`` = from the first forcing day), written atomically to ``out_path``.

    Each chunk job reads only its own slice, so a chunk's inputs change only when the forcing of
    its own days does (or the previous chunk's state). The window must lie inside the forcing
    record (one-line error otherwise, nothing written)."""
    from dhbv.time_chunks import chunk_window, parse_chunk_label

    with _open_forcing(forcing_path) as f:
        t = pd.DatetimeIndex(f["time"].values).normalize()
        if len(t) == 0:
            raise DhbvInputError(f"unit forcing {forcing_path} has no days")
        start, end = chunk_window(parse_chunk_label(chunk), first=first,
                                  spinup_days=spinup_days, forcing_start=t[0])
        if start < t[0] or end > t[-1]:
            raise DhbvInputError(f"unit forcing {forcing_path} covers {t[0].date()}..{t[-1].date()}, "
                                 f"but chunk {chunk} needs {start.date()}..{end.date()} (chunk "
                                 "and spin-up); shorten the period or the spin-up, or extend the "
                                 "forcing")
        i0, i1 = t.get_loc(start), t.get_loc(end)
        win = f.isel(time=slice(i0, i1 + 1)).load()
    win.attrs["history"] = (f"{win.attrs.get('history', '')}\n".lstrip()
                            + f"dhbv slice_domain_forcing: days {start.date()}..{end.date()} "
                              f"of {forcing_path}")
    return std.write_netcdf(win, out_path)
