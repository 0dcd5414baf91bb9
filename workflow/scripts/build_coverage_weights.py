"""Exact coverage weights of grid cells in unit polygons (thin wrapper)."""

from dhbv.forcing import build_coverage_weights
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
build_coverage_weights(
    snakemake.input.grid,
    snakemake.input.polygons,
    snakemake.params.id_field,
    snakemake.output.weights,
    crs=snakemake.params.crs,
    reuse=False,
)
