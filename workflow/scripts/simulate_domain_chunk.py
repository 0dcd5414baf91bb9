"""Rule simulate_domain_chunk: one time chunk of every unit of a domain (dhbv.simulation.domain)."""

from pathlib import Path

from dhbv.simulation.domain import simulate_domain_chunk
from dhbv.workflow_support import setup_script_logging

setup_script_logging(snakemake.log[0])
inp, out, p = snakemake.input, snakemake.output, snakemake.params
knobs = snakemake.config["simulate_domain"]  # knobs: not params, rerun nothing
simulate_domain_chunk(
    Path(inp.weights).parent,
    {"forcing": inp.forcing, "attributes": inp.attributes},
    snakemake.wildcards.chunk,
    out.store,
    out.state,
    previous_state=inp.get("previous_state"),
    first=p.first,
    spinup=p.spinup,
    variables=p.variables,
    memory_mb=knobs["memory_mb"],
    batch_units=knobs["batch_units"],
    device=snakemake.config["run"]["device"],
    progress=knobs["progress"],
    # δHBV2.0MC runs on datasets with a river network (dhbv.simulation.routed)
    network=inp.get("network"),
    gauge_table=inp.get("gauge_table"),
    gauges=p.gauges or (),
)
