"""Rule build_training_data: a dataset's raw sources → the standard forms (dhbv.datasets)."""

from pathlib import Path

from dhbv.datasets import build_training_data
from dhbv.workflow_support import setup_script_logging

log = setup_script_logging(snakemake.log[0])
paths = build_training_data(
    snakemake.params.sources,
    snakemake.params.attributes,
    snakemake.params.dynamic_inputs,
    Path(snakemake.output.forcing).parent,
)
log.info("wrote %s", paths)
