# Named aggregate targets (the default target `all` lives in the Snakefile).


rule all_networks:
    input:
        expand("results/network/{domain}/network.nc", domain=DOMAINS),
        expand("results/network/{domain}/gauge_subnetworks.nc", domain=GAUGED_DOMAINS),
        expand("results/network/{domain}/gauge_membership.nc", domain=GAUGED_DOMAINS),


rule all_forcing:
    input:
        expand("results/forcing/{units}/unit_forcing.nc", units=FORCING_SETS),


rule all_retrieved:
    input:
        retrieved_files,


rule all_simulations:
    input:
        expand(
            "results/simulation/{run}/{dataset}/scores.csv",
            run=config["run"]["name"],
            dataset=config["simulate"]["datasets"] if config["train"]["dataset"] else [],
        ),


rule all_domain_simulations:
    input:
        expand(
            "results/domain/{run}/{dataset}/summary.csv",
            run=config["run"]["name"],
            dataset=config["simulate_domain"]["datasets"],
        ),


rule all_ungauged:
    input:
        expand(
            "results/ungauged/{run}/scores.csv",
            run=config["run"]["name"] if config["ungauged"]["folds"] else [],
        ),


rule all_evaluation:
    input:
        expand(
            "results/evaluation/{run}/{name}",
            run=config["run"]["name"] if EVAL_DATASETS else [],
            name=["metrics.csv", "summary.csv", "configuration.yaml"]
            + [f"figures/{f}.png" for f in FIGURES],
        ),
