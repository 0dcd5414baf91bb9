"""Forcing: exact coverage weights (grid cells → unit catchments), chunked aggregation, PET.

Public entry points (imported lazily so that ``import dhbv.forcing.pet`` stays light):

* :func:`build_coverage_weights` / :func:`load_coverage_weights` (:mod:`.weights`)
* :func:`aggregate_forcing` (:mod:`.aggregate`)
* :func:`grid_spec_from_path`, :func:`unit_conversion` (:mod:`.grid`)
* PET formulas in :mod:`.pet` (``hargreaves``, ``oudin``, ``extraterrestrial_radiation``)
"""

from importlib import import_module

_EXPORTS = {
    "build_coverage_weights": "weights",
    "compute_coverage_weights": "weights",
    "load_coverage_weights": "weights",
    "save_coverage_weights": "weights",
    "read_polygons": "weights",
    "CoverageWeights": "weights",
    "aggregate_forcing": "aggregate",
    "FORCING_VARIABLES": "aggregate",
    "open_grid": "grid",
    "grid_spec": "grid",
    "grid_spec_from_path": "grid",
    "unit_conversion": "grid",
    "GridSpec": "grid",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
