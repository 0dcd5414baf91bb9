"""HBV 2.0 physics core: daily HBV 2.0 with nmul components, gamma UH, fused kernels."""

from pathlib import Path as _Path

from dhbv.numba_cache import drop_stale as _drop_stale

# before any kernel of this package loads its cached machine code (see dhbv.numba_cache)
_drop_stale(_Path(__file__).parent)

from .balance import water_balance
from .hbv2 import (
    DYNAMIC_PARAMETERS,
    PARAMETER_RANGES,
    STATIC_PARAMETERS,
    UH_PARAMETERS,
    HbvOptions,
    descale,
    run_hbv2,
)
from .reference import STATE_NAMES

__all__ = [
    "DYNAMIC_PARAMETERS", "PARAMETER_RANGES", "STATIC_PARAMETERS", "UH_PARAMETERS",
    "STATE_NAMES", "HbvOptions", "descale", "run_hbv2", "water_balance",
]
