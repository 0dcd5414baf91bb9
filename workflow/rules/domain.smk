# Domain simulation: every unit of a dataset over a long period in time chunks, one job per
# chunk continuing from the previous chunk's end state (docs/simulation.md#domain-simulation).


rule simulate_domain_chunk:
    input:
        unpack(domain_chunk_inputs),
    output:
        store=directory("results/domain/{run}/{dataset}/chunks/{chunk}.zarr"),
        state="results/domain/{run}/{dataset}/states/{chunk}.pt",
    log:
        "logs/simulate_domain_chunk/{run}_{dataset}_{chunk}.log",
    benchmark:
        "logs/benchmarks/simulate_domain_chunk/{run}_{dataset}_{chunk}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 2
    resources:
        mem_mb=lambda w: int(SIMULATE_DOMAIN["memory_mb"]) + 4000,
        runtime=120,
    params:
        period=SIMULATE_DOMAIN["period"],
        chunk_years=SIMULATE_DOMAIN["chunk_years"],
        variables=SIMULATE_DOMAIN["variables"],
        spinup=config["simulate"]["spinup"],
    script:
        "../scripts/simulate_domain_chunk.py"


rule summarize_domain_simulation:
    input:
        stores=lambda w: expand(
            "results/domain/{run}/{dataset}/chunks/{chunk}.zarr",
            run=w.run,
            dataset=w.dataset,
            chunk=DOMAIN_CHUNKS,
        ),
    output:
        summary="results/domain/{run}/{dataset}/summary.csv",
    log:
        "logs/summarize_domain_simulation/{run}_{dataset}.log",
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/summarize_domain_simulation.py"
