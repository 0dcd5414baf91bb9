# Training data in the standard on-disk form, and multiscale δHBV2.0 training (docs/datasets.md, docs/training.md).


rule build_training_data:
    input:
        unpack(dataset_inputs),
    output:
        forcing="results/datasets/{dataset}/unit_forcing.nc",
        attributes="results/datasets/{dataset}/unit_attributes.nc",
        observations="results/datasets/{dataset}/gauge_observations.nc",
        membership="results/datasets/{dataset}/gauge_membership.nc",
    log:
        "logs/build_training_data/{dataset}.log",
    benchmark:
        "logs/benchmarks/build_training_data/{dataset}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        sources=lambda w: config["datasets"][w.dataset]["sources"],
        attributes=config["model"]["attributes"],
        dynamic_inputs=config["model"]["dynamic_inputs"],
    script:
        "../scripts/build_training_data.py"


rule train_model:
    input:
        forcing=f"results/datasets/{config['train']['dataset']}/unit_forcing.nc",
        attributes=f"results/datasets/{config['train']['dataset']}/unit_attributes.nc",
        observations=f"results/datasets/{config['train']['dataset']}/gauge_observations.nc",
        membership=f"results/datasets/{config['train']['dataset']}/gauge_membership.nc",
    output:
        weights="results/models/{run}/model.pt",
        statistics="results/models/{run}/normalization_statistics.json",
        training_log="results/models/{run}/training_log.csv",
        config="results/models/{run}/config.resolved.yaml",
    log:
        "logs/train_model/{run}.log",
    benchmark:
        "logs/benchmarks/train_model/{run}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 2
    resources:
        mem_mb=16000,
        runtime=720,
        gpu=1,
    params:
        run={"seed": config["run"]["seed"]},
        model=config["model"],
        train=without_knobs(config, "train"),
    script:
        "../scripts/train_model.py"
