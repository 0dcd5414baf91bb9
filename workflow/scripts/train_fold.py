"""Rule train_fold: train on the gauges outside one PUB fold (dhbv.training.folds.train_fold)."""

from pathlib import Path

from dhbv.config import knobs_of
from dhbv.training.folds import train_fold
from dhbv.workflow_support import setup_script_logging

# the guard keeps worker processes of train.parallel_members (spawned, they re-run this file as
# __mp_main__) from starting the training again
if __name__ == "__main__":
    setup_script_logging(snakemake.log[0])
    inp = snakemake.input
    train_fold(
        inp.forcing,
        inp.attributes,
        inp.observations,
        inp.membership,
        inp.folds,
        int(snakemake.wildcards.fold),
        Path(snakemake.output.weights).parent,
        run=dict(snakemake.params.run, name=f"{snakemake.wildcards.run}_fold{snakemake.wildcards.fold}"),
        model=snakemake.params.model,
        train_cfg=snakemake.params.train,
        knobs=knobs_of(snakemake.config),  # speed only: not params, rerun nothing
        ensemble=snakemake.params.ensemble,
        evaluation_period=snakemake.config["evaluation"]["period"],
    )
