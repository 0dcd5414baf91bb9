# Static attributes of every unit catchment of a forcing set from a unit attribute table (a
# MERIT zone's δHBV2.0 attributes keyed by COMID; docs/simulation.md#the-conus-configuration).

# Forcing sets whose attributes come from a table; the sets with subunits_of keep
# build_subunit_attributes (forcing.smk).
TABLE_ATTRIBUTE_SETS = [
    n for n, s in config["forcing"]["sets"].items() if s.get("attributes")
]


ruleorder: build_unit_attributes > build_subunit_attributes


rule build_unit_attributes:
    input:
        polygons=lambda w: forcing_cfg(w)["polygons"],
        table=lambda w: forcing_cfg(w)["attributes"],
    output:
        attributes="results/forcing/{units}/unit_attributes.nc",
    log:
        "logs/build_unit_attributes/{units}.log",
    benchmark:
        "logs/benchmarks/build_unit_attributes/{units}.tsv"
    wildcard_constraints:
        units="|".join(TABLE_ATTRIBUTE_SETS) or "(?!x)x",
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        id_field=lambda w: forcing_cfg(w)["id_field"],
        attributes=config["model"]["attributes"],
    script:
        "../scripts/build_unit_attributes.py"
