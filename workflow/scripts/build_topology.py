"""Build the topologically ordered river network of one domain (thin wrapper)."""

from dhbv.network import build_topology
from dhbv.workflow_support import setup_script_logging

log = setup_script_logging(snakemake.log[0])
summary = build_topology(
    snakemake.input.flowlines,
    snakemake.input.get("catchments"),
    out_path=snakemake.output.network,
    min_slope=snakemake.params.min_slope,
    cycle_policy=snakemake.params.cycle_policy,
    field_map=snakemake.params.field_map or None,
    # not a param: a network that builds under "error" is the same under "outlet", and one
    # that does not leaves no output that a change would have to rerun
    dangling_downstream=snakemake.config["network"]["dangling_downstream"],
)
log.info("%s", summary)
