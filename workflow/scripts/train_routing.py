"""Rule train_routing: learn the channel parameters of a domain from its gauge flows
(dhbv.routing.training.train_routing)."""

from pathlib import Path

from dhbv.routing.training import RoutingTrainingOptions, train_routing
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
train_routing(
    snakemake.input.network,
    snakemake.input.attributes,
    snakemake.input.lateral,
    snakemake.input.observations,
    snakemake.input.gauge_table,
    snakemake.params.gauges,
    Path(snakemake.output.model).parent,
    RoutingTrainingOptions(**snakemake.params.options, seed=snakemake.params.seed),
)
