# Evaluation stage (docs/evaluation.md §5–6): every model of evaluation.models scored on every
# simulated dataset into one tidy table, the paper's figures from it, and the run's
# configuration; `snakemake --report results/report.html` gathers them into one HTML page.

import importlib.util

from dhbv.evaluation.paths import (
    baseline_model_config,
    evaluated_datasets,
    evaluation_figures,
    evaluation_inputs,
    evaluation_locations,
    evaluation_references,
    evaluation_simulations,
    parameter_map_period,
    unit_map_variables,
)
from dhbv.evaluation.stage import reported_configuration
from dhbv.plots.rules import compared_models


wildcard_constraints:
    member="[0-9]+",
    baseline="[A-Za-z0-9_.-]+",


EVAL_DATASETS = evaluated_datasets(config)
FIGURES = evaluation_figures(config)
# Parquet beside the CSV only where pyarrow is installed.
EVAL_PARQUET = importlib.util.find_spec("pyarrow") is not None


rule simulate_member:
    input:
        weights="results/models/{run}/model.pt",
        statistics="results/models/{run}/normalization_statistics.json",
        config="results/models/{run}/config.resolved.yaml",
        forcing="results/datasets/{dataset}/unit_forcing.nc",
        attributes="results/datasets/{dataset}/unit_attributes.nc",
        observations="results/datasets/{dataset}/gauge_observations.nc",
        membership="results/datasets/{dataset}/gauge_membership.nc",
    output:
        streamflow="results/simulation/{run}/{dataset}/member{member}.nc",
    log:
        "logs/simulate_member/{run}_{dataset}_{member}.log",
    benchmark:
        "logs/benchmarks/simulate_member/{run}_{dataset}_{member}.tsv"
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
    script:
        "../scripts/simulate_member.py"


# The LSTM-only baseline (a model {source: lstm} of evaluation.models): the run's trainer,
# training dataset, train section and seed; only the model section differs (type: lstm).
rule train_baseline:
    input:
        forcing=f"results/datasets/{config['train']['dataset']}/unit_forcing.nc",
        attributes=f"results/datasets/{config['train']['dataset']}/unit_attributes.nc",
        observations=f"results/datasets/{config['train']['dataset']}/gauge_observations.nc",
        membership=f"results/datasets/{config['train']['dataset']}/gauge_membership.nc",
    output:
        weights="results/models/{run}/baselines/{baseline}/model.pt",
        statistics="results/models/{run}/baselines/{baseline}/normalization_statistics.json",
        training_log="results/models/{run}/baselines/{baseline}/training_log.csv",
        config="results/models/{run}/baselines/{baseline}/config.resolved.yaml",
    log:
        "logs/train_baseline/{run}_{baseline}.log",
    benchmark:
        "logs/benchmarks/train_baseline/{run}_{baseline}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 2
    resources:
        mem_mb=16000,
        runtime=720,
        gpu=1,
    params:
        run={"seed": config["run"]["seed"]},
        model=lambda w: baseline_model_config(config, w.baseline),
        train=without_knobs(config, "train"),
    script:
        "../scripts/train_baseline.py"


rule simulate_baseline:
    input:
        weights="results/models/{run}/baselines/{baseline}/model.pt",
        statistics="results/models/{run}/baselines/{baseline}/normalization_statistics.json",
        config="results/models/{run}/baselines/{baseline}/config.resolved.yaml",
        forcing="results/datasets/{dataset}/unit_forcing.nc",
        attributes="results/datasets/{dataset}/unit_attributes.nc",
        observations="results/datasets/{dataset}/gauge_observations.nc",
        membership="results/datasets/{dataset}/gauge_membership.nc",
    output:
        streamflow="results/simulation/{run}/{dataset}/baseline_{baseline}.nc",
    log:
        "logs/simulate_baseline/{run}_{dataset}_{baseline}.log",
    benchmark:
        "logs/benchmarks/simulate_baseline/{run}_{dataset}_{baseline}.tsv"
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
    script:
        "../scripts/simulate_baseline.py"


rule evaluate_models:
    input:
        unpack(lambda w: evaluation_inputs(config, w.run)),
    output:
        **(
            {"parquet": "results/evaluation/{run}/metrics.parquet"}
            if EVAL_PARQUET
            else {}
        ),
        table=report(
            "results/evaluation/{run}/metrics.csv",
            caption="../report/metrics_table.rst",
            category="Metrics",
        ),
        summary=report(
            "results/evaluation/{run}/summary.csv",
            caption="../report/summary_table.rst",
            category="Metrics",
        ),
    log:
        "logs/evaluate_models/{run}.log",
    benchmark:
        "logs/benchmarks/evaluate_models/{run}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        references=lambda w: evaluation_references(config, w.run),
        locations=evaluation_locations(config),
        simulations=lambda w: evaluation_simulations(config, w.run),
        models=config["evaluation"]["models"],
        period=config["evaluation"]["period"],
        min_days=config["evaluation"]["min_days"],
        max_missing_fraction=config["evaluation"]["max_missing_fraction"],
    script:
        "../scripts/evaluate_models.py"


rule write_run_configuration:
    output:
        config=report(
            "results/evaluation/{run}/configuration.yaml",
            caption="../report/configuration.rst",
            category="Configuration",
        ),
    log:
        "logs/write_run_configuration/{run}.log",
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        # every section without its knobs: a knob edit reruns nothing
        config=reported_configuration(config),
    script:
        "../scripts/write_run_configuration.py"


rule plot_nse_cdf:
    input:
        table="results/evaluation/{run}/metrics.csv",
    output:
        png=report(
            "results/evaluation/{run}/figures/nse_cdf.png",
            caption="../report/nse_cdf.rst",
            category="Figures",
        ),
        numbers="results/evaluation/{run}/figures/nse_cdf.json",
    log:
        "logs/plot_nse_cdf/{run}.log",
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/plot_nse_cdf.py"


rule plot_nse_maps:
    input:
        table="results/evaluation/{run}/metrics.csv",
    output:
        png=report(
            "results/evaluation/{run}/figures/nse_maps.png",
            caption="../report/nse_maps.rst",
            category="Figures",
        ),
        numbers="results/evaluation/{run}/figures/nse_maps.json",
    log:
        "logs/plot_nse_maps/{run}.log",
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/plot_nse_maps.py"


rule plot_dnse_map:
    input:
        table="results/evaluation/{run}/metrics.csv",
    output:
        png=report(
            "results/evaluation/{run}/figures/dnse_map.png",
            caption="../report/dnse_map.rst",
            category="Figures",
        ),
        numbers="results/evaluation/{run}/figures/dnse_map.json",
    log:
        "logs/plot_dnse_map/{run}.log",
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        pair=lambda w: compared_models(
            config["evaluation"]["models"], config["evaluation"]["compare"]
        ),
    script:
        "../scripts/plot_dnse_map.py"


rule plot_nse_by_area:
    input:
        table="results/evaluation/{run}/metrics.csv",
    output:
        png=report(
            "results/evaluation/{run}/figures/nse_by_area.png",
            caption="../report/nse_by_area.rst",
            category="Figures",
        ),
        numbers="results/evaluation/{run}/figures/nse_by_area.json",
    log:
        "logs/plot_nse_by_area/{run}.log",
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/plot_nse_by_area.py"


rule plot_spearman_bias:
    input:
        table="results/evaluation/{run}/metrics.csv",
    output:
        png=report(
            "results/evaluation/{run}/figures/spearman_bias.png",
            caption="../report/spearman_bias.rst",
            category="Figures",
        ),
        numbers="results/evaluation/{run}/figures/spearman_bias.json",
    log:
        "logs/plot_spearman_bias/{run}.log",
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/plot_spearman_bias.py"


rule plot_nnse_hist:
    input:
        table="results/evaluation/{run}/metrics.csv",
    output:
        png=report(
            "results/evaluation/{run}/figures/nnse_hist.png",
            caption="../report/nnse_hist.rst",
            category="Figures",
        ),
        numbers="results/evaluation/{run}/figures/nnse_hist.json",
    log:
        "logs/plot_nnse_hist/{run}.log",
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/plot_nnse_hist.py"


rule plot_hydrographs:
    input:
        unpack(lambda w: evaluation_inputs(config, w.run)),
        table="results/evaluation/{run}/metrics.csv",
    output:
        png=report(
            "results/evaluation/{run}/figures/hydrographs.png",
            caption="../report/hydrographs.rst",
            category="Figures",
        ),
        numbers="results/evaluation/{run}/figures/hydrographs.json",
    log:
        "logs/plot_hydrographs/{run}.log",
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        references=lambda w: evaluation_references(config, w.run),
        simulations=lambda w: evaluation_simulations(config, w.run),
        gauges=config["evaluation"]["hydrograph_gauges"],
    script:
        "../scripts/plot_hydrographs.py"


rule plot_unit_maps:
    input:
        stores=lambda w: expand(
            "results/domain/{run}/{dataset}/chunks/{chunk}.zarr",
            run=w.run,
            dataset=w.dataset,
            chunk=domain_chunks(w.dataset),
        ),
        polygons=lambda w: config["forcing"]["sets"][w.dataset]["polygons"],
    output:
        png=report(
            "results/evaluation/{run}/figures/unit_maps_{dataset}.png",
            caption="../report/unit_maps.rst",
            category="Unit maps",
        ),
        numbers="results/evaluation/{run}/figures/unit_maps_{dataset}.json",
    log:
        "logs/plot_unit_maps/{run}_{dataset}.log",
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        id_field=lambda w: config["forcing"]["sets"][w.dataset]["id_field"],
        variables=unit_map_variables(config),
    script:
        "../scripts/plot_unit_maps.py"


rule plot_parameter_maps:
    input:
        unpack(domain_unit_forms),
        weights="results/models/{run}/model.pt",
        statistics="results/models/{run}/normalization_statistics.json",
        config="results/models/{run}/config.resolved.yaml",
        polygons=lambda w: config["forcing"]["sets"][w.dataset]["polygons"],
    output:
        png=report(
            "results/evaluation/{run}/figures/parameter_maps_{dataset}.png",
            caption="../report/parameter_maps.rst",
            category="Unit maps",
        ),
        numbers="results/evaluation/{run}/figures/parameter_maps_{dataset}.json",
    log:
        "logs/plot_parameter_maps/{run}_{dataset}.log",
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        id_field=lambda w: config["forcing"]["sets"][w.dataset]["id_field"],
        period=lambda w: parameter_map_period(config, w.dataset),
        spinup=config["simulate"]["spinup"],
    script:
        "../scripts/plot_parameter_maps.py"
