"""Rule retrieve_gridmet: one gridMET variable over a bounding box and period
(dhbv.retrieval.retrieve_gridmet)."""

from pathlib import Path

from dhbv.retrieval import retrieve_gridmet
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
start, end = snakemake.params.period
retrieve_gridmet(
    snakemake.params.bbox,
    start,
    end,
    Path(snakemake.output.grid).parent,
    variables=[snakemake.wildcards.var],
    base_url=snakemake.params.base_url,
    filename="{var}.nc",
)
