"""Rule route_flows: learned n and q per reach, routed daily flow of every reach, routed and
unrouted scores at the gauges (dhbv.routing.training.route_flows)."""

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
    discharge_out=snakemake.output.discharge,
    scores_out=snakemake.output.scores,
    period=snakemake.params.period,
)
