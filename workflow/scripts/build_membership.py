"""Rule build_membership: gauge subnetworks → gauge membership for training (dhbv.datasets)."""

from dhbv.datasets import build_membership
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
build_membership(snakemake.input.network, snakemake.input.subnetworks,
                 snakemake.output.membership)
