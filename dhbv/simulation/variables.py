"""The unit outputs a domain simulation can write, with their CF metadata.

Each entry maps an output name to the :func:`dhbv.physics.hbv2.run_hbv2` (``full_output``)
result it is taken from, its units, long name and CF standard name (only where a CF name with
compatible canonical units exists: the ``lwe_`` names take depths of liquid water; the CF
runoff names are mass fluxes, kg m-2 s-1, and are not given to mm d-1 fields). Values are nmul
means per unit (ensemble means over the run's members).
"""
from __future__ import annotations

from dhbv.errors import DhbvInputError

# name: (run_hbv2 key, units, long_name, standard_name or None)
VARIABLES: dict[str, tuple[str, str, str, str | None]] = {
    "runoff": ("streamflow", "mm d-1",
               "unit runoff routed through the unit hydrograph (sum of the three components)", None),
    "surface_runoff": ("Q0_routed", "mm d-1", "surface runoff (upper-zone quick flow Q0), routed",
                       None),
    "subsurface_runoff": ("Q1_routed", "mm d-1", "subsurface runoff (upper-zone flow Q1), routed",
                          None),
    "baseflow": ("Q2_routed", "mm d-1", "baseflow (lower-zone flow Q2), routed", None),
    "aet": ("AET", "mm d-1", "actual evapotranspiration", "lwe_water_evaporation_rate"),
    "swe": ("SWE", "mm", "snow water equivalent at the end of the day",
            "lwe_thickness_of_surface_snow_amount"),
    "soil_moisture": ("SM", "mm", "soil moisture storage at the end of the day",
                      "lwe_thickness_of_soil_moisture_content"),
    "recharge": ("recharge", "mm d-1", "recharge from the soil to the upper zone", None),
    "exchange": ("LF", "mm d-1",
                 "realised regional groundwater exchange into the lower zone (+ = gain)", None),
    "pet": ("PET", "mm d-1", "potential evapotranspiration (forcing)", None),
}
DEFAULT_VARIABLES = ("runoff", "surface_runoff", "subsurface_runoff", "baseflow", "aet", "swe",
                     "soil_moisture", "recharge", "exchange")


def check_variables(names) -> list[str]:
    """The requested output names, checked against :data:`VARIABLES`."""
    names = list(names)
    for n in names:
        if n not in VARIABLES:
            raise DhbvInputError(f"simulate_domain.variables: {n!r} is not an output; choose from "
                                 f"{', '.join(VARIABLES)}")
    if not names:
        raise DhbvInputError("simulate_domain.variables is empty; name at least one output")
    return names


def cf_attributes(name: str) -> dict:
    """CF attributes of output ``name``."""
    _, units, long_name, standard = VARIABLES[name]
    attrs = {"units": units, "long_name": long_name, "coordinates": "lat lon"}
    if standard:
        attrs["standard_name"] = standard
    return attrs
