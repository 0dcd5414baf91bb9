# Domain simulation: every unit of a dataset over a long period in time chunks, one job per
# chunk continuing from the previous chunk's end state (docs/simulation.md#domain-simulation).
#
# Each chunk job reads only its own forcing slice (the chunk's days; the first chunk also its
# spin-up) and the previous chunk's state, and its parameters name only its own days: a longer
# period adds chunk jobs without rerunning the ones done, and new forcing of the last chunks
# reruns only them. The jobs of one dataset (a MERIT zone) form one chain and are submitted as
# one cluster job (group simulate_domain), so a continental run is a handful of cluster jobs,
# not thousands. A δHBV2.0MC run (model.readout muskingum_cunge) on a dataset with a river
# network (its sources' network, or results/network/<dataset>/network.nc of a domain) also
# routes every chunk through the network: the network and the domain's gauge table become
# inputs of its chunk jobs, the gauges a parameter (None for every other run).


from dhbv.simulation.domain import domain_routing_inputs


rule slice_domain_forcing:
    input:
        forcing=lambda w: domain_unit_forms(w)["forcing"],
    output:
        forcing="results/domain/forcing/{dataset}/{chunk}.nc",
    log:
        "logs/slice_domain_forcing/{dataset}_{chunk}.log",
    benchmark:
        "logs/benchmarks/slice_domain_forcing/{dataset}_{chunk}.tsv"
    group:
        "simulate_domain"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=8000,
        runtime=10,
    params:
        first=domain_chunk_is_first,
        # the spin-up matters to the first chunk's slice only
        spinup_days=lambda w: domain_spinup_days() if domain_chunk_is_first(w) else None,
    script:
        "../scripts/slice_domain_forcing.py"


rule simulate_domain_chunk:
    input:
        unpack(domain_chunk_files),
    output:
        store=directory("results/domain/{run}/{dataset}/chunks/{chunk}.zarr"),
        state="results/domain/{run}/{dataset}/states/{chunk}.pt",
    log:
        "logs/simulate_domain_chunk/{run}_{dataset}_{chunk}.log",
    benchmark:
        "logs/benchmarks/simulate_domain_chunk/{run}_{dataset}_{chunk}.tsv"
    group:
        "simulate_domain"
    conda:
        "../../envs/dhbv.yaml"
    threads: 2
    resources:
        mem_mb=lambda w: int(SIMULATE_DOMAIN["memory_mb"]) + 4000,
        runtime=30,
    params:
        first=domain_chunk_is_first,
        spinup=lambda w: (
            config["simulate"]["spinup"] if domain_chunk_is_first(w) else None
        ),
        variables=SIMULATE_DOMAIN["variables"],
        gauges=lambda w: domain_routing_inputs(config, w.dataset)[1] or None,
    script:
        "../scripts/simulate_domain_chunk.py"


rule summarize_domain_simulation:
    input:
        stores=lambda w: expand(
            "results/domain/{run}/{dataset}/chunks/{chunk}.zarr",
            run=w.run,
            dataset=w.dataset,
            chunk=domain_chunks(w.dataset),
        ),
    output:
        summary="results/domain/{run}/{dataset}/summary.csv",
    log:
        "logs/summarize_domain_simulation/{run}_{dataset}.log",
    group:
        "simulate_domain"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/summarize_domain_simulation.py"
