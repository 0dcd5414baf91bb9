"""Extract the subnetwork (gauge reach + all ancestors) of each configured gauge (thin wrapper)."""

from dhbv.network import build_gauge_subnetworks
from dhbv.workflow_support import setup_script_logging

log = setup_script_logging(snakemake.log[0])
build_gauge_subnetworks(
    snakemake.input.network,
    snakemake.input.gauge_table,
    snakemake.params.gauges,
    snakemake.output.subnetworks,
    require_da_valid=snakemake.params.require_da_valid,
)
