"""Rule plot_parameter_maps: the HBV 2.0 parameters a run learned, over the unit polygons of a
forcing set (dhbv.plots.rules)."""

from pathlib import Path

from dhbv.plots.rules import plot_parameter_maps
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
plot_parameter_maps(Path(snakemake.input.weights).parent, snakemake.input.forcing,
                    snakemake.input.attributes, snakemake.input.polygons,
                    snakemake.params.id_field, snakemake.output.png, snakemake.output.numbers,
                    period=snakemake.params.period, spinup_days=snakemake.params.spinup)
