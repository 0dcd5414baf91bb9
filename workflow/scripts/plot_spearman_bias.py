"""Rule plot_spearman_bias (dhbv.plots.rules)."""

from dhbv.plots.rules import plot_spearman_bias
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
plot_spearman_bias(snakemake.input.table, snakemake.output.png, snakemake.output.numbers)
