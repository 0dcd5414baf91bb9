"""Static unit attributes: attribute tables (MERIT NetCDF, CAMELS, Caravan CSV), zonal
statistics of rasters, the standard unit-attribute NetCDF, and the training-unit selection
used for normalisation statistics."""

from dhbv.attributes.build import assemble_attributes, build_attributes, select_training_units, write_attributes
from dhbv.attributes.tables import (
    KNOWN_UNITS,
    read_attribute_table,
    read_camels_attributes,
    read_csv_attributes,
    read_merit_attributes,
)

__all__ = [
    "KNOWN_UNITS", "assemble_attributes", "build_attributes", "read_attribute_table", "read_camels_attributes",
    "read_csv_attributes", "read_merit_attributes", "select_training_units", "write_attributes", "zonal_attributes",
]


def __getattr__(name):
    if name == "zonal_attributes":
        from dhbv.attributes.zonal import zonal_attributes

        return zonal_attributes
    raise AttributeError(name)
