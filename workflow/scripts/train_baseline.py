"""Rule train_baseline: the LSTM-only baseline of evaluation.models, trained like the run's
δHBV2.0 model (dhbv.evaluation.baselines.train_baseline)."""

from pathlib import Path

from dhbv.config import knobs_of
from dhbv.evaluation.baselines import train_baseline

# the guard keeps worker processes of train.parallel_members (spawned, they re-run this file as
# __mp_main__) from starting the training again
if __name__ == "__main__":
    from dhbv.workflow_support import setup_script_logging, standard_forms

    setup_script_logging(snakemake.log[0])
    train_baseline(
        standard_forms(snakemake.input),
        Path(snakemake.output.weights).parent,
        run=dict(snakemake.params.run, name=snakemake.wildcards.run),
        model=snakemake.params.model,
        train_cfg=snakemake.params.train,
        # knobs, the evaluation period and the forcing-gap policy as in train_model
        knobs=knobs_of(snakemake.config),
        evaluation_period=snakemake.config["evaluation"]["period"],
        forcing_gaps=snakemake.config["data"]["forcing_gaps"],
    )
