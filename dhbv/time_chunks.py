"""Time chunks of a domain simulation: a period cut into equal runs of whole years.

A chunk is ``(start, end)`` (inclusive dates); its label ``YYYYMMDD-YYYYMMDD`` names its output
store and end-state file. The period must be a whole number of years (end = the day before an
anniversary of the start) and that number a multiple of ``chunk_years``, so every chunk has the
same number of years and a chunk boundary never depends on how far a run has got.
"""
from __future__ import annotations

import pandas as pd

from dhbv.errors import DhbvInputError


def chunk_periods(period, chunk_years: int, key: str = "simulate_domain.period"
                  ) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """The chunks ``[(start, end), ...]`` (inclusive dates) of ``period`` = [start, end];
    ``key`` is the configuration key the period came from, named in errors."""
    if period is None or len(period) != 2:
        raise DhbvInputError(f"{key} must be [start, end] dates, got {period!r}")
    try:
        start, end = pd.Timestamp(str(period[0])), pd.Timestamp(str(period[1]))
    except ValueError:
        raise DhbvInputError(f"{key}: cannot parse dates {list(period)!r}; use "
                             "YYYY-MM-DD") from None
    n = int(chunk_years)
    if n < 1:
        raise DhbvInputError(f"simulate_domain.chunk_years must be >= 1, got {chunk_years}")
    years = 0
    while start + pd.DateOffset(years=years + 1) - pd.Timedelta(days=1) <= end:
        years += 1
    if years == 0 or start + pd.DateOffset(years=years) - pd.Timedelta(days=1) != end:
        raise DhbvInputError(
            f"{key} {start.date()}..{end.date()} is not a whole number of years; "
            f"end it the day before an anniversary of its start")
    if years % n:
        raise DhbvInputError(
            f"simulate_domain.chunk_years {n} does not divide the period of {years} years "
            f"({key} {start.date()}..{end.date()}); choose a divisor of {years}")
    return [(start + pd.DateOffset(years=k), start + pd.DateOffset(years=k + n) - pd.Timedelta(days=1))
            for k in range(0, years, n)]


def chunk_label(chunk) -> str:
    """``YYYYMMDD-YYYYMMDD`` of a chunk (start, end)."""
    return f"{chunk[0]:%Y%m%d}-{chunk[1]:%Y%m%d}"


def parse_chunk_label(label: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(start, end) of a chunk label ``YYYYMMDD-YYYYMMDD`` (one-line error otherwise)."""
    try:
        a, b = str(label).split("-")
        start, end = pd.to_datetime(a, format="%Y%m%d"), pd.to_datetime(b, format="%Y%m%d")
    except ValueError:
        raise DhbvInputError(f"chunk label {label!r} is not YYYYMMDD-YYYYMMDD") from None
    if end < start:
        raise DhbvInputError(f"chunk label {label!r} ends before it starts")
    return start, end


def chunk_window(chunk, *, first: bool, spinup_days: int | str | None,
                 forcing_start=None) -> tuple[pd.Timestamp | None, pd.Timestamp]:
    """Forcing days a chunk reads: the chunk itself, and for the first chunk the spin-up before
    it (``spinup_days`` days, shortened to ``forcing_start``; ``"full"`` = from the forcing's
    first day, returned as None when ``forcing_start`` is not known)."""
    start, end = chunk
    if not first:
        return start, end
    if spinup_days == "full":
        return (pd.Timestamp(forcing_start) if forcing_start is not None else None), end
    s = start - pd.Timedelta(days=int(spinup_days or 0))
    if forcing_start is not None:
        s = max(s, min(pd.Timestamp(forcing_start), start))
    return s, end


def domain_period(simulate_domain: dict, dataset: str):
    """[start, end] simulated for ``dataset``: its entry in ``simulate_domain.periods``, else
    ``simulate_domain.period``."""
    return (simulate_domain.get("periods") or {}).get(dataset) or simulate_domain["period"]


def chunk_labels(period, chunk_years: int) -> list[str]:
    """Labels of every chunk of ``period``, in time order."""
    return [chunk_label(c) for c in chunk_periods(period, chunk_years)]


def find_chunk(period, chunk_years: int, label: str) -> int:
    """Index of the chunk labelled ``label`` (error if it is not a chunk of the period)."""
    labels = chunk_labels(period, chunk_years)
    if label not in labels:
        raise DhbvInputError(f"chunk {label} is not a chunk of the period {period[0]}..{period[1]} "
                             f"in {chunk_years}-year chunks ({labels[0]}, ...)")
    return labels.index(label)
