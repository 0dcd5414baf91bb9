"""Rule retrieve_merit_attributes: copy (local folder) or download (configured mirror) the
unit-catchment attribute table of one MERIT zone (dhbv.retrieval.merit_attributes)."""

from dhbv.retrieval.merit_attributes import retrieve_merit_attributes
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
retrieve_merit_attributes(
    snakemake.wildcards.zone,
    snakemake.output.table,
    local_dir=snakemake.params.local_dir,
    base_url=snakemake.params.base_url,
)
