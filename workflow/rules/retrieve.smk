# Data acquisition (docs/acquisition.md#offline-and-online-data). Defined only with `data.source: online`; with the
# default `prestaged` the workflow reads files already in resources/ and no rule touches the
# network. Downloads go through temporary files with retries, resume, checksum/size checks and
# atomic moves (dhbv.retrieval.download); dry runs never contact a server.

from dhbv.retrieval.merit import MERIT_NAME, SHAPEFILE_PARTS


rule retrieve_usgs_streamflow:
    output:
        streamflow="resources/usgs/streamflow.nc",
    log:
        "logs/retrieve_usgs_streamflow/all.log",
    benchmark:
        "logs/benchmarks/retrieve_usgs_streamflow/all.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    params:
        gauges=config["retrieve"]["usgs"]["gauges"],
        period=config["retrieve"]["usgs"]["period"],
        drop_provisional=config["retrieve"]["usgs"]["drop_provisional"],
    script:
        "../scripts/retrieve_usgs_streamflow.py"


rule retrieve_gridmet:
    output:
        grid="resources/gridmet/{units}/{var}.nc",
    log:
        "logs/retrieve_gridmet/{units}_{var}.log",
    benchmark:
        "logs/benchmarks/retrieve_gridmet/{units}_{var}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        bbox=lambda w: gridmet_cfg(w)["bbox"],
        period=lambda w: gridmet_cfg(w)["period"],
        base_url=config["retrieve"]["gridmet"]["base_url"],
    script:
        "../scripts/retrieve_gridmet.py"


rule retrieve_merit_basins:
    output:
        files=[
            f"resources/merit/{{zone}}/{MERIT_NAME.format(kind=kind, zone='{zone}')}{ext}"
            for kind in ("cat", "riv")
            for ext in SHAPEFILE_PARTS
        ],
    log:
        "logs/retrieve_merit_basins/{zone}.log",
    benchmark:
        "logs/benchmarks/retrieve_merit_basins/{zone}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=240,
    params:
        base_url=config["retrieve"]["merit_basins"]["base_url"],
        local_dir=config["retrieve"]["merit_basins"]["local_dir"],
    script:
        "../scripts/retrieve_merit_basins.py"


rule retrieve_merit_attributes:
    output:
        table="resources/merit/{zone}/merit_attributes_{zone}.nc",
    log:
        "logs/retrieve_merit_attributes/{zone}.log",
    benchmark:
        "logs/benchmarks/retrieve_merit_attributes/{zone}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=60,
    params:
        base_url=config["retrieve"]["merit_basins"]["base_url"],
        local_dir=config["retrieve"]["merit_basins"]["local_dir"],
    script:
        "../scripts/retrieve_merit_attributes.py"
