"""Download one gridMET variable over a bounding box and period (thin wrapper)."""

from dhbv.retrieval import download, gridmet_ncss_url
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
start, end = snakemake.params.period
url = gridmet_ncss_url(
    snakemake.wildcards.var,
    snakemake.params.bbox,
    start,
    end,
    base_url=snakemake.params.base_url,
)
download(url, snakemake.output.grid)
