"""Rule plot_dnse_map: ΔNSE between two models of the comparison (dhbv.plots.rules)."""

from dhbv.plots.rules import plot_dnse_map
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
reference, candidate = snakemake.params.pair
plot_dnse_map(snakemake.input.table, snakemake.output.png, snakemake.output.numbers,
              reference=reference, candidate=candidate)
