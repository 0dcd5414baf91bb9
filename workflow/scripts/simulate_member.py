"""Rule simulate_member: one ensemble member of a trained run on a dataset
(dhbv.simulation.members)."""

from pathlib import Path

from dhbv.simulation.members import simulate_member
from dhbv.workflow_support import setup_script_logging, standard_forms

setup_script_logging(snakemake.log[0])
simulate_member(
    Path(snakemake.input.weights).parent,
    standard_forms(snakemake.input),
    snakemake.output.streamflow,
    member=int(snakemake.wildcards.member),
    period=snakemake.params.period,
    spinup=snakemake.params.spinup,
    device=snakemake.config["run"]["device"],  # a knob: not a param, reruns nothing
)
