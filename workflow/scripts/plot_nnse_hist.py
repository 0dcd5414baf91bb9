"""Rule plot_nnse_hist (dhbv.plots.rules)."""

from dhbv.plots.rules import plot_nnse_hist
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
plot_nnse_hist(snakemake.input.table, snakemake.output.png, snakemake.output.numbers)
