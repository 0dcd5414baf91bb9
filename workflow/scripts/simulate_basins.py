"""Rule simulate_basins: simulate and score a dataset with a trained run (dhbv.simulation)."""

from pathlib import Path

from dhbv.simulation import simulate_basins
from dhbv.workflow_support import setup_script_logging, standard_forms

setup_script_logging(snakemake.log[0])
simulate_basins(
    Path(snakemake.input.weights).parent,
    standard_forms(snakemake.input),
    snakemake.output.streamflow,
    snakemake.output.scores,
    period=snakemake.params.period,
    spinup=snakemake.params.spinup,
    min_days=snakemake.params.min_days,
    device=snakemake.config["run"]["device"],  # a knob: not a param, reruns nothing
    # not a param (like the knobs): on forcing without gaps it changes nothing, and with
    # gaps the policy "error" leaves no output that a change would have to rerun
    forcing_gaps=snakemake.config["data"]["forcing_gaps"],
)
