"""Train a δHBV2.0 model on a standard-form dataset (thin wrapper around dhbv.training.train)."""

from pathlib import Path

from dhbv.io.standard import standard_source
from dhbv.training import train
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
inp = snakemake.input
config = {
    "run": dict(snakemake.params.run, name=snakemake.wildcards.run),
    "data": {
        "sources": [
            standard_source(inp.forcing, inp.attributes, inp.observations, inp.membership)
        ]
    },
    "model": snakemake.params.model,
    "train": {k: v for k, v in snakemake.params.train.items() if k != "dataset"},
    "evaluation": snakemake.params.evaluation,
}
train(config, Path(snakemake.output.weights).parent)
