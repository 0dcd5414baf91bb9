"""Rule slice_domain_forcing: the unit forcing of one chunk of a domain simulation
(dhbv.simulation.inputs)."""

from dhbv.simulation.inputs import slice_domain_forcing
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
slice_domain_forcing(
    snakemake.input.forcing,
    snakemake.output.forcing,
    snakemake.wildcards.chunk,
    first=snakemake.params.first,
    spinup_days=snakemake.params.spinup_days,
)
