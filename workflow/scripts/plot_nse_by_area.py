"""Rule plot_nse_by_area (dhbv.plots.rules)."""

from dhbv.plots.rules import plot_nse_by_area
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
plot_nse_by_area(snakemake.input.table, snakemake.output.png, snakemake.output.numbers)
