"""Rule collect_ungauged_scores: every gauge's out-of-fold scores in one table
(dhbv.evaluation.ungauged)."""

from dhbv.evaluation.ungauged import collect_ungauged_scores
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
collect_ungauged_scores(snakemake.input.scores, snakemake.input.folds, snakemake.output.scores,
                        snakemake.output.summary)
