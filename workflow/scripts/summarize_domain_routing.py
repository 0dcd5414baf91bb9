"""Rule summarize_domain_routing: water balance per chunk and throughput of a chunked routing
run (dhbv.routing.chunks)."""

from dhbv.routing.chunks import summarize_domain_routing
from dhbv.workflow_support import setup_script_logging

log = setup_script_logging(snakemake.log[0])
summarize_domain_routing(list(snakemake.input.stores), snakemake.output.summary, echo=log.info)
