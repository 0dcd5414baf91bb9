"""Simulate a standard-form dataset with a trained run and score it (thin wrapper)."""

from pathlib import Path

from dhbv.io.standard import standard_source
from dhbv.simulation import simulate
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
inp = snakemake.input
data = {
    "sources": [
        standard_source(inp.forcing, inp.attributes, inp.observations, inp.membership)
    ]
}
simulate(
    Path(inp.weights).parent,
    data,
    snakemake.output.streamflow,
    snakemake.params.period,
    scores_out=snakemake.output.scores,
    device=snakemake.params.device,
    spinup=snakemake.params.spinup,
)
