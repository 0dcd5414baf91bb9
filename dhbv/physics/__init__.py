"""HBV 2.0 physics core: daily HBV 2.0 with nmul components, gamma UH, fused kernels."""

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
