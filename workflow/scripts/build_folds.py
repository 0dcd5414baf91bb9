"""Rule build_folds: the PUB fold table of the training gauges (dhbv.training.folds)."""

from dhbv.training.folds import build_folds
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
build_folds(snakemake.input.observations, snakemake.params.folds, snakemake.params.seed,
            snakemake.output.folds)
