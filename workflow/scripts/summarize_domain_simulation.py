"""Rule summarize_domain_simulation: per-unit water balance and throughput over all chunks."""

from dhbv.simulation.domain import summarize_domain_simulation
from dhbv.workflow_support import setup_script_logging

log = setup_script_logging(snakemake.log[0])
summarize_domain_simulation(list(snakemake.input.stores), snakemake.output.summary, echo=log.info)
