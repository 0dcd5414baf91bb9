"""Checks shared by the readers of text tables (Caravan CSV, CAMELS files): cells that are not
numbers and dates that do not exist are one-line errors naming the file, row and column."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError


def numeric_frame(path: Path, df: pd.DataFrame, first_row: int) -> pd.DataFrame:
    """``df`` as float64; a one-line error naming the file, row (``first_row`` is the file row
    of ``df``'s first row) and column of the first cell that is not a number."""
    for col in df.columns:
        if not pd.api.types.is_numeric_dtype(df[col]):
            num = pd.to_numeric(df[col], errors="coerce")
            bad = (num.isna() & df[col].notna()).to_numpy()
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise DhbvInputError(f"{path}: row {first_row + k} column {col}: "
                                     f"{df[col].iloc[k]!r} is not a number; fix the cell or write "
                                     "NA for a missing value")
    return df.astype(np.float64)


def dates_of(path: Path, year, month, day, first_row: int) -> pd.DatetimeIndex:
    """Dates from year, month and day columns; a date that does not exist is an error naming
    its row."""
    parts = pd.DataFrame({"year": year, "month": month, "day": day})
    t = pd.to_datetime(parts, errors="coerce")
    bad = t.isna().to_numpy()
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        y, m, d = parts.iloc[k]
        raise DhbvInputError(f"{path}: row {first_row + k}: {y}-{m}-{d} is not a date; fix the "
                             "year, month and day columns")
    return pd.DatetimeIndex(t, name="time")
