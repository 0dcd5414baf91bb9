"""Rule plot_unit_maps: long-term means of a domain simulation over the unit polygons
(dhbv.plots.rules)."""

from dhbv.plots.rules import plot_unit_maps
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
plot_unit_maps(snakemake.input.stores, snakemake.input.polygons, snakemake.params.id_field,
               snakemake.output.png, snakemake.output.numbers,
               variables=snakemake.params.variables)
