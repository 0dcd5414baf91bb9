# Shared helpers: wildcard constraints and config look-ups.


wildcard_constraints:
    domain="[A-Za-z0-9_]+",
    gauge="[0-9]{8,15}",
    units="[A-Za-z0-9_]+",


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
