"""Rule train_fold: train on the gauges outside one PUB fold (dhbv.training.folds.train_fold)."""

from pathlib import Path

from dhbv.config import knobs_of
from dhbv.training.folds import train_fold
from dhbv.workflow_support import setup_script_logging, standard_forms

# spawned workers of train.parallel_members re-run this file as __mp_main__: see train_model.py
if __name__ == "__main__":
    setup_script_logging(snakemake.log[0])
    w = snakemake.wildcards
    train_fold(
        standard_forms(snakemake.input),
        snakemake.input.folds,
        int(w.fold),
        Path(snakemake.output.weights).parent,
        run=dict(snakemake.params.run, name=f"{w.run}_fold{w.fold}"),
        model=snakemake.params.model,
        train_cfg=snakemake.params.train,
        knobs=knobs_of(snakemake.config),
        ensemble=snakemake.params.ensemble,
        evaluation_period=snakemake.config["evaluation"]["period"],
        # not a param (like the knobs): on forcing without gaps it changes nothing, and with
        # gaps the policy "error" leaves no output that a change would have to rerun
        forcing_gaps=snakemake.config["data"]["forcing_gaps"],
    )
