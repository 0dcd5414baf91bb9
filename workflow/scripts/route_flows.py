"""Rule route_flows: learned n and q per reach, routed and unrouted scores at the gauges
(dhbv.routing.training.route_flows); the routed flow of every reach is written in time chunks
by route_domain_chunk."""

from pathlib import Path

from dhbv.routing.training import route_flows
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
route_flows(
    Path(snakemake.input.model).parent,
    snakemake.input.lateral,
    snakemake.input.observations,
    snakemake.input.gauge_table,
    snakemake.params.gauges,
    parameters_out=snakemake.output.parameters,
    scores_out=snakemake.output.scores,
)
