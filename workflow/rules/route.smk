# Learned Muskingum-Cunge routing of given lateral inflow on gauged network domains
# (docs/routing.md#10-learned-channel-parameters): learn the channel parameters from the gauge
# flows, score routed and unrouted flow at the gauges, then route the whole period in time
# chunks, one job per chunk continuing from the previous chunk's end state, into CF zarr
# stores of every reach and gauge (docs/routing.md#11-chunked-routing-and-its-products).

from dhbv.routing.chunks import lateral_period, previous_chunk_state, routing_chunk_labels

ROUTING = config["routing"]
ROUTING_DOMAINS = list(ROUTING["domains"])
# everything that changes what is learned (the routed period and its chunks only affect the
# chunk jobs)
ROUTING_TRAIN = {
    k: v for k, v in ROUTING.items() if k not in ("domains", "period", "chunk_years")
}

for _d in ROUTING_DOMAINS:
    _cfg = config["domains"].get(_d) or {}
    if not (_cfg.get("gauge_table") and _cfg.get("gauges")):
        sys.exit(
            f"dhbv workflow: error: routing.domains.{_d}: needs domains.{_d} with gauge_table "
            "and gauges (the gauges the routing is trained on)"
        )


# chunk labels (YYYYMMDD-YYYYMMDD, time order) of each routing domain: routing.period (inside
# the lateral inflow's records), else the lateral inflow's whole record, in
# routing.chunk_years-year chunks
try:
    _ROUTING_CHUNKS = {
        d: routing_chunk_labels(
            lateral_period(ROUTING["domains"][d]["lateral"], ROUTING["period"]),
            ROUTING["chunk_years"],
        )
        for d in ROUTING_DOMAINS
    }
except DhbvInputError as err:
    sys.exit(f"dhbv workflow: error: {err}")


# the first chunk hot-starts; every later one reads the previous chunk's end state
routing_chunk_is_first = lambda w: _ROUTING_CHUNKS[w.domain].index(w.chunk) == 0

# the trained routing model, the lateral inflow, the gauge table and, after the first chunk,
# the previous chunk's end state
routing_chunk_files = lambda w: {
    "model": f"results/routing/{w.domain}/model/routing_model.pt",
    "statistics": f"results/routing/{w.domain}/model/attribute_statistics.json",
    "options": f"results/routing/{w.domain}/model/options.yaml",
    "reaches": f"results/routing/{w.domain}/model/reaches.nc",
    "lateral": ROUTING["domains"][w.domain]["lateral"],
    "gauge_table": config["domains"][w.domain]["gauge_table"],
    **previous_chunk_state(
        f"results/routing/{w.domain}/states", _ROUTING_CHUNKS[w.domain], w.chunk
    ),
}


# network, gauge table and the routing input files of a domain
routing_inputs = lambda w: {
    "network": f"results/network/{w.domain}/network.nc",
    "gauge_table": config["domains"][w.domain]["gauge_table"],
    **ROUTING["domains"][w.domain],
}


rule train_routing:
    input:
        unpack(routing_inputs),
    output:
        model="results/routing/{domain}/model/routing_model.pt",
        statistics="results/routing/{domain}/model/attribute_statistics.json",
        options="results/routing/{domain}/model/options.yaml",
        training_log="results/routing/{domain}/model/training_log.csv",
        reaches="results/routing/{domain}/model/reaches.nc",
    log:
        "logs/train_routing/{domain}.log",
    benchmark:
        "logs/benchmarks/train_routing/{domain}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        gauges=lambda w: config["domains"][w.domain]["gauges"],
        options=ROUTING_TRAIN,
        seed=config["run"]["seed"],
    script:
        "../scripts/train_routing.py"


rule route_flows:
    input:
        unpack(routing_inputs),
        model="results/routing/{domain}/model/routing_model.pt",
        statistics="results/routing/{domain}/model/attribute_statistics.json",
        options="results/routing/{domain}/model/options.yaml",
        reaches="results/routing/{domain}/model/reaches.nc",
    output:
        parameters="results/routing/{domain}/channel_parameters.nc",
        scores="results/routing/{domain}/scores.csv",
    log:
        "logs/route_flows/{domain}.log",
    benchmark:
        "logs/benchmarks/route_flows/{domain}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        gauges=lambda w: config["domains"][w.domain]["gauges"],
    script:
        "../scripts/route_flows.py"


# One chunk of the routed period; the jobs of a domain form one chain and are submitted as one
# cluster job (group route_domain). The parameters name only the chunk's own days, so a longer
# period adds chunk jobs without rerunning the ones done.
rule route_domain_chunk:
    input:
        unpack(routing_chunk_files),
    output:
        store=directory("results/routing/{domain}/chunks/{chunk}.zarr"),
        state="results/routing/{domain}/states/{chunk}.pt",
    log:
        "logs/route_domain_chunk/{domain}_{chunk}.log",
    benchmark:
        "logs/benchmarks/route_domain_chunk/{domain}_{chunk}.tsv"
    group:
        "route_domain"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        first=routing_chunk_is_first,
        gauges=lambda w: config["domains"][w.domain]["gauges"],
    script:
        "../scripts/route_domain_chunk.py"


rule summarize_domain_routing:
    input:
        stores=lambda w: expand(
            "results/routing/{domain}/chunks/{chunk}.zarr",
            domain=w.domain,
            chunk=_ROUTING_CHUNKS[w.domain],
        ),
    output:
        summary="results/routing/{domain}/summary.csv",
    log:
        "logs/summarize_domain_routing/{domain}.log",
    group:
        "route_domain"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/summarize_domain_routing.py"


rule all_routing:
    input:
        expand("results/routing/{domain}/scores.csv", domain=ROUTING_DOMAINS),
        expand("results/routing/{domain}/summary.csv", domain=ROUTING_DOMAINS),
