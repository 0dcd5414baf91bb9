"""Rule build_unit_attributes: attributes of every unit polygon of a forcing set from a unit
attribute table (dhbv.attributes.units)."""

from dhbv.attributes.units import build_unit_attributes
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
build_unit_attributes(
    snakemake.input.polygons,
    snakemake.params.id_field,
    snakemake.input.table,
    snakemake.params.attributes,
    snakemake.output.attributes,
)
