"""Rule train_model: train δHBV2.0 on a dataset in the standard forms (dhbv.training.train_model)."""

from pathlib import Path

from dhbv.config import knobs_of
from dhbv.training import train_model
from dhbv.workflow_support import setup_script_logging, standard_forms

# the guard keeps worker processes of train.parallel_members (spawned, they re-run this file as
# __mp_main__) from starting the training again
if __name__ == "__main__":
    setup_script_logging(snakemake.log[0])
    train_model(
        standard_forms(snakemake.input),
        Path(snakemake.output.weights).parent,
        run=dict(snakemake.params.run, name=snakemake.wildcards.run),
        model=snakemake.params.model,
        train_cfg=snakemake.params.train,
        # knobs (threads, device, progress) and the evaluation period (checked against the
        # training period when the workflow starts) are not params: editing them reruns nothing
        knobs=knobs_of(snakemake.config),
        evaluation_period=snakemake.config["evaluation"]["period"],
        # not a param (like the knobs): on forcing without gaps it changes nothing, and with
        # gaps the policy "error" leaves no output that a change would have to rerun
        forcing_gaps=snakemake.config["data"]["forcing_gaps"],
    )
