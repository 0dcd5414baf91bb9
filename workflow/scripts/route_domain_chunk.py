"""Rule route_domain_chunk: one time chunk of the lateral inflow routed through a domain's
network from the previous chunk's end state (dhbv.routing.chunks)."""

from pathlib import Path

from dhbv.routing.chunks import route_domain_chunk
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
inp, out, p = snakemake.input, snakemake.output, snakemake.params
route_domain_chunk(
    Path(inp.model).parent,
    inp.lateral,
    snakemake.wildcards.chunk,
    out.store,
    out.state,
    previous_state=inp.get("previous_state"),
    first=p.first,
    gauge_table=inp.gauge_table,
    gauges=p.gauges,
    # the routing pieces are sized to the job's memory, less the process's own (torch, model)
    memory_mb=max(256, snakemake.resources.mem_mb - 2000),
)
