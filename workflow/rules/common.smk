# Shared helpers: wildcard constraints and config look-ups.

from dhbv.config import without_knobs
from dhbv.time_chunks import chunk_labels, domain_period


wildcard_constraints:
    domain="[A-Za-z0-9_]+",
    gauge="[0-9]{8,15}",
    units="[A-Za-z0-9_]+",
    fold="[0-9]+",
    run="[A-Za-z0-9_.-]+",
    dataset="[A-Za-z0-9_]+",
    chunk="[0-9]{8}-[0-9]{8}",


DOMAINS = list(config["domains"])
FORCING_SETS = list(config["forcing"]["sets"])
GAUGED_DOMAINS = [d for d, c in config["domains"].items() if c.get("gauges")]


def domain_cfg(wildcards):
    return config["domains"][wildcards.domain]


def domain_network_inputs(wildcards):
    """Raw network files of a domain: flowlines and, when configured, catchment polygons."""
    cfg = domain_cfg(wildcards)
    files = {"flowlines": cfg["flowlines"]}
    if cfg.get("catchments"):
        files["catchments"] = cfg["catchments"]
    return files


def forcing_cfg(wildcards):
    return config["forcing"]["sets"][wildcards.units]


def gridmet_cfg(wildcards):
    return config["retrieve"]["gridmet"]["sets"][wildcards.units]


def retrieved_files(wildcards=None):
    """Everything the retrieve_* rules download (empty unless data.source is online)."""
    if config["data"]["source"] != "online":
        return []
    r = config["retrieve"]
    files = ["resources/usgs/streamflow.nc"] if r["usgs"]["gauges"] else []
    for name, cfg in r["gridmet"]["sets"].items():
        files += [f"resources/gridmet/{name}/{v}.nc" for v in cfg["variables"]]
    for zone in r["merit_basins"]["zones"]:
        files.append(
            f"resources/merit/{zone}/riv_pfaf_{zone}_MERIT_Hydro_v07_Basins_v01_bugfix1.shp"
        )
    return files


def dataset_inputs(wildcards):
    """Files and folders a dataset's raw sources read (so edits to them rerun the dataset)."""
    files = {}
    for i, src in enumerate(config["datasets"][wildcards.dataset]["sources"]):
        for key in (
            "timeseries_dir",
            "attributes_dir",
            "forcing",
            "forcing_dir",
            "streamflow_dir",
            "membership",
            "network",
        ):
            if src.get(key):
                files[f"{key}_{i}"] = src[key]
        if isinstance(src.get("basins"), str):
            files[f"basins_{i}"] = src["basins"]
        for key in ("observations", "attributes"):
            spec = src.get(key)
            if isinstance(spec, str):
                files[f"{key}_{i}"] = spec
            elif isinstance(spec, dict) and (spec.get("path") or spec.get("dir")):
                files[f"{key}_{i}"] = spec.get("path") or spec.get("dir")
    return files


SIMULATE_DOMAIN = config["simulate_domain"]
# chunk labels of each domain-simulated dataset (each over its own period when periods names it)
_DOMAIN_CHUNKS = {
    d: chunk_labels(domain_period(SIMULATE_DOMAIN, d), SIMULATE_DOMAIN["chunk_years"])
    for d in SIMULATE_DOMAIN["datasets"]
}


def domain_chunks(dataset):
    """Chunk labels (``YYYYMMDD-YYYYMMDD``, in time order) of a domain-simulated dataset."""
    return _DOMAIN_CHUNKS[dataset]


def domain_unit_forms(wildcards):
    """Unit forcing and attributes of a domain: a built dataset or a forcing set."""
    if wildcards.dataset in config["datasets"]:
        base = f"results/datasets/{wildcards.dataset}"
    else:
        base = f"results/forcing/{wildcards.dataset}"
    return {
        "forcing": f"{base}/unit_forcing.nc",
        "attributes": f"{base}/unit_attributes.nc",
    }


def domain_spinup_days():
    """Spin-up days before the first chunk: simulate.spinup (null = model.warmup; or full)."""
    s = config["simulate"]["spinup"]
    return config["model"]["warmup"] if s is None else s


def domain_chunk_is_first(wildcards):
    return domain_chunks(wildcards.dataset).index(wildcards.chunk) == 0


def domain_chunk_files(wildcards):
    """The run, the unit attributes, the chunk's forcing slice, after the first chunk the
    previous chunk's state and, for a δHBV2.0MC run on a dataset with a river network, the
    network (and the gauge table) it is routed through."""
    from dhbv.simulation.domain import domain_routing_inputs

    files = {
        "weights": f"results/models/{wildcards.run}/model.pt",
        "statistics": f"results/models/{wildcards.run}/normalization_statistics.json",
        "attributes": domain_unit_forms(wildcards)["attributes"],
        "forcing": f"results/domain/forcing/{wildcards.dataset}/{wildcards.chunk}.nc",
    }
    chunks = domain_chunks(wildcards.dataset)
    k = chunks.index(wildcards.chunk)
    if k > 0:
        prev = chunks[k - 1]
        files["previous_state"] = (
            f"results/domain/{wildcards.run}/{wildcards.dataset}/states/{prev}.pt"
        )
    files.update(domain_routing_inputs(config, wildcards.dataset)[0])
    return files
