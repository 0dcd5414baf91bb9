"""Attributes and gauge membership of the sub-units of one gauged basin (thin wrapper)."""

from dhbv.attributes.subunits import build_subunit_attributes
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
build_subunit_attributes(
    snakemake.input.forcing,
    snakemake.input.camels,
    snakemake.params.gauge,
    snakemake.params.attributes,
    snakemake.output.attributes,
    snakemake.output.membership,
)
