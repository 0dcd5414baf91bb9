"""Rule evaluate_models: every model on every simulated dataset, one tidy table
(dhbv.evaluation.stage)."""

from dhbv.evaluation.stage import evaluate_models
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
p = snakemake.params
evaluate_models(p.references, p.locations, p.simulations, snakemake.output.table,
                snakemake.output.summary, models=p.models, period=p.period,
                min_days=p.min_days, max_missing_fraction=p.max_missing_fraction,
                out_parquet=snakemake.output.get("parquet"))
