"""Rule simulate_baseline: the LSTM baseline's ensemble on a dataset
(dhbv.evaluation.baselines.simulate_baseline)."""

from pathlib import Path

from dhbv.evaluation.baselines import simulate_baseline
from dhbv.workflow_support import setup_script_logging, standard_forms

setup_script_logging(snakemake.log[0])
simulate_baseline(
    Path(snakemake.input.weights).parent,
    standard_forms(snakemake.input),
    snakemake.output.streamflow,
    period=snakemake.params.period,
    spinup=snakemake.params.spinup,
    device=snakemake.config["run"]["device"],  # a knob: not a param, reruns nothing
    forcing_gaps=snakemake.config["data"]["forcing_gaps"],
)
