"""Download USGS daily streamflow of the configured gauges (thin wrapper)."""

from dhbv.retrieval import retrieve_usgs_streamflow
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
start, end = snakemake.params.period
retrieve_usgs_streamflow(
    snakemake.params.gauges,
    start,
    end,
    snakemake.output.streamflow,
    drop_provisional=snakemake.params.drop_provisional,
)
