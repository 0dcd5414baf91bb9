"""Aggregate gridded daily forcing to unit catchments (thin wrapper)."""

from dhbv.forcing import aggregate_forcing
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
start, end = snakemake.params.period or (None, None)
aggregate_forcing(
    snakemake.input.grid,
    snakemake.input.weights,
    snakemake.input.polygons,
    snakemake.output.forcing,
    variables=snakemake.params.variables,
    pet_method=snakemake.params.pet_method,
    chunk_days=snakemake.config["forcing"]["chunk_days"],  # a knob: reruns nothing
    min_coverage=snakemake.params.min_coverage,
    crs=snakemake.params.crs,
    start=start,
    end=end,
)
