"""Rule simulate_fold: a PUB fold's held-out gauges with its model (dhbv.simulation)."""

from pathlib import Path

from dhbv.simulation import simulate_fold
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
inp = snakemake.input
simulate_fold(
    Path(inp.weights).parent,
    inp.forcing,
    inp.attributes,
    inp.observations,
    inp.membership,
    inp.folds,
    int(snakemake.wildcards.fold),
    snakemake.output.streamflow,
    snakemake.output.scores,
    period=snakemake.params.period,
    spinup=snakemake.params.spinup,
    min_days=snakemake.params.min_days,
    device=snakemake.config["run"]["device"],  # a knob: not a param, reruns nothing
)
