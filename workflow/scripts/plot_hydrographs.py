"""Rule plot_hydrographs: observed vs every model for a few gauges (dhbv.plots.rules)."""

from dhbv.plots.rules import plot_hydrographs
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
plot_hydrographs(snakemake.input.table, snakemake.params.references,
                 snakemake.params.simulations, snakemake.output.png, snakemake.output.numbers,
                 gauges=snakemake.params.gauges)
