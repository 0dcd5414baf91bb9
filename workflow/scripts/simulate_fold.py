"""Rule simulate_fold: a PUB fold's held-out gauges with its model (dhbv.simulation)."""

from pathlib import Path

from dhbv.simulation import simulate_fold
from dhbv.workflow_support import setup_script_logging, standard_forms

setup_script_logging(snakemake.log[0])
out, p = snakemake.output, snakemake.params
simulate_fold(
    Path(snakemake.input.weights).parent,
    standard_forms(snakemake.input),
    snakemake.input.folds,
    int(snakemake.wildcards.fold),
    out.streamflow,
    out.scores,
    period=p.period,
    spinup=p.spinup,
    min_days=p.min_days,
    device=snakemake.config["run"]["device"],
    # not a param (like the knobs): on forcing without gaps it changes nothing, and with
    # gaps the policy "error" leaves no output that a change would have to rerun
    forcing_gaps=snakemake.config["data"]["forcing_gaps"],
)
