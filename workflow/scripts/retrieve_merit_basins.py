"""Copy (local folder) or download (configured mirror) the MERIT-Basins files of one zone."""

from pathlib import Path

from dhbv.retrieval import retrieve_merit_basins
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
retrieve_merit_basins(
    [snakemake.wildcards.zone],
    Path(snakemake.output.files[0]).parent,
    source="online",
    local_dir=snakemake.params.local_dir,
    base_url=snakemake.params.base_url,
)
