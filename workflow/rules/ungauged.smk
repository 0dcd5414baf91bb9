# Prediction in ungauged basins (PUB): k-fold cross-validation over the training gauges
# (docs/training.md#ungauged-basins). Included when ungauged.folds is set.

UNGAUGED_DATASET = config["train"]["dataset"]


def dataset_forms(dataset):
    """The four standard-form files of a built dataset."""
    base = f"results/datasets/{dataset}"
    return {
        "forcing": f"{base}/unit_forcing.nc",
        "attributes": f"{base}/unit_attributes.nc",
        "observations": f"{base}/gauge_observations.nc",
        "membership": f"{base}/gauge_membership.nc",
    }


rule build_folds:
    input:
        observations=f"results/datasets/{UNGAUGED_DATASET}/gauge_observations.nc",
    output:
        folds="results/ungauged/{run}/folds.csv",
    log:
        "logs/build_folds/{run}.log",
    benchmark:
        "logs/benchmarks/build_folds/{run}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        folds=config["ungauged"]["folds"],
        seed=config["ungauged"]["seed"],
    script:
        "../scripts/build_folds.py"


rule train_fold:
    input:
        **dataset_forms(UNGAUGED_DATASET),
        folds="results/ungauged/{run}/folds.csv",
    output:
        weights="results/ungauged/{run}/fold{fold}/model.pt",
    log:
        "logs/train_fold/{run}_{fold}.log",
    benchmark:
        "logs/benchmarks/train_fold/{run}_{fold}.tsv"
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
        ensemble=config["ungauged"]["ensemble"],
    script:
        "../scripts/train_fold.py"


rule simulate_fold:
    input:
        **dataset_forms(UNGAUGED_DATASET),
        weights="results/ungauged/{run}/fold{fold}/model.pt",
        folds="results/ungauged/{run}/folds.csv",
    output:
        streamflow="results/ungauged/{run}/fold{fold}/streamflow.nc",
        scores="results/ungauged/{run}/fold{fold}/scores.csv",
    log:
        "logs/simulate_fold/{run}_{fold}.log",
    benchmark:
        "logs/benchmarks/simulate_fold/{run}_{fold}.tsv"
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
        "../scripts/simulate_fold.py"


rule collect_ungauged_scores:
    input:
        scores=expand(
            "results/ungauged/{{run}}/fold{fold}/scores.csv",
            fold=range(config["ungauged"]["folds"]),
        ),
        folds="results/ungauged/{run}/folds.csv",
    output:
        scores="results/ungauged/{run}/scores.csv",
        summary="results/ungauged/{run}/summary.json",
    log:
        "logs/collect_ungauged_scores/{run}.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "../scripts/collect_ungauged_scores.py"
