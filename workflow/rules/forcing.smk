# Gridded daily forcing → unit catchments with exact coverage weights (docs/forcing.md).


rule build_coverage_weights:
    input:
        grid=lambda w: forcing_cfg(w)["grid"],
        polygons=lambda w: forcing_cfg(w)["polygons"],
    output:
        weights="results/forcing/{units}/coverage_weights.npz",
    log:
        "logs/build_coverage_weights/{units}.log",
    benchmark:
        "logs/benchmarks/build_coverage_weights/{units}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        id_field=lambda w: forcing_cfg(w)["id_field"],
        crs=lambda w: forcing_cfg(w)["crs"],
    script:
        "../scripts/build_coverage_weights.py"


rule aggregate_forcing:
    input:
        grid=lambda w: forcing_cfg(w)["grid"],
        polygons=lambda w: forcing_cfg(w)["polygons"],
        weights="results/forcing/{units}/coverage_weights.npz",
        # variables read from other files on the same grid (gridMET: one file per variable)
        variable_files=lambda w: [
            v["file"]
            for v in forcing_cfg(w)["variables"].values()
            if isinstance(v, dict)
            and v.get("file")
            and v["file"] != forcing_cfg(w)["grid"]
        ],
    output:
        forcing="results/forcing/{units}/unit_forcing.nc",
    log:
        "logs/aggregate_forcing/{units}.log",
    benchmark:
        "logs/benchmarks/aggregate_forcing/{units}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=120,
    params:
        variables=lambda w: forcing_cfg(w)["variables"],
        pet_method=lambda w: forcing_cfg(w)["pet_method"],
        period=lambda w: forcing_cfg(w)["period"],
        crs=lambda w: forcing_cfg(w)["crs"],
        min_coverage=config["forcing"]["min_coverage"],
    script:
        "../scripts/aggregate_forcing.py"


rule build_subunit_attributes:
    input:
        forcing="results/forcing/{units}/unit_forcing.nc",
        camels=lambda w: config["forcing"]["sets"][w.units]["subunits_of"]["camels_dir"],
    output:
        attributes="results/forcing/{units}/unit_attributes.nc",
        membership="results/forcing/{units}/gauge_membership.nc",
    log:
        "logs/build_subunit_attributes/{units}.log",
    benchmark:
        "logs/benchmarks/build_subunit_attributes/{units}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        gauge=lambda w: config["forcing"]["sets"][w.units]["subunits_of"]["gauge"],
        attributes=config["model"]["attributes"],
    script:
        "../scripts/build_subunit_attributes.py"
