"""Rule write_run_configuration: the run's configuration for the report
(dhbv.evaluation.stage)."""

from dhbv.evaluation.stage import write_run_configuration
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
write_run_configuration(snakemake.params.config, snakemake.output.config)
