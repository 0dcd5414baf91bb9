# Learned Muskingum-Cunge routing of given lateral inflow on gauged network domains
# (docs/routing.md#10-learned-channel-parameters): learn the channel parameters from the gauge
# flows, then route every reach and score routed and unrouted flow at the gauges.

ROUTING = config["routing"]
ROUTING_DOMAINS = list(ROUTING["domains"])
# everything that changes what is learned (the written output period only affects route_flows)
ROUTING_TRAIN = {k: v for k, v in ROUTING.items() if k not in ("domains", "period")}

for _d in ROUTING_DOMAINS:
    _cfg = config["domains"].get(_d) or {}
    if not (_cfg.get("gauge_table") and _cfg.get("gauges")):
        sys.exit(
            f"dhbv workflow: error: routing.domains.{_d}: needs domains.{_d} with gauge_table "
            "and gauges (the gauges the routing is trained on)"
        )


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
        discharge="results/routing/{domain}/discharge.nc",
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
        period=ROUTING["period"],
    script:
        "../scripts/route_flows.py"


rule all_routing:
    input:
        expand("results/routing/{domain}/scores.csv", domain=ROUTING_DOMAINS),
