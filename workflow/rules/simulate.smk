# Simulation of gauged basins with a trained model (including basins never seen in training)
# and their scores (docs/simulation.md).


rule simulate_basins:
    input:
        weights="results/models/{run}/model.pt",
        statistics="results/models/{run}/normalization_statistics.json",
        config="results/models/{run}/config.resolved.yaml",
        forcing="results/datasets/{dataset}/unit_forcing.nc",
        attributes="results/datasets/{dataset}/unit_attributes.nc",
        observations="results/datasets/{dataset}/gauge_observations.nc",
        membership="results/datasets/{dataset}/gauge_membership.nc",
    output:
        streamflow="results/simulation/{run}/{dataset}/streamflow.nc",
        scores="results/simulation/{run}/{dataset}/scores.csv",
    log:
        "logs/simulate_basins/{run}_{dataset}.log",
    benchmark:
        "logs/benchmarks/simulate_basins/{run}_{dataset}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=1,
    params:
        period=config["simulate"]["period"] or config["evaluation"]["period"],
        spinup=config["simulate"]["spinup"],
        min_days=config["evaluation"]["min_days"],
    script:
        "../scripts/simulate_basins.py"
