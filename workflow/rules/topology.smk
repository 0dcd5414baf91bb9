# MERIT river-network topology, gauge subnetworks and gauge membership (docs/network.md).


rule build_topology:
    input:
        unpack(domain_network_inputs),
    output:
        network="results/network/{domain}/network.nc",
    log:
        "logs/build_topology/{domain}.log",
    benchmark:
        "logs/benchmarks/build_topology/{domain}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        field_map=lambda w: domain_cfg(w).get("field_map", {}),
        min_slope=config["network"]["min_slope"],
        cycle_policy=config["network"]["cycle_policy"],
    script:
        "../scripts/build_topology.py"


rule build_gauge_subnetworks:
    input:
        network="results/network/{domain}/network.nc",
        gauge_table=lambda w: domain_cfg(w)["gauge_table"],
    output:
        subnetworks="results/network/{domain}/gauge_subnetworks.nc",
    log:
        "logs/build_gauge_subnetworks/{domain}.log",
    benchmark:
        "logs/benchmarks/build_gauge_subnetworks/{domain}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        gauges=lambda w: domain_cfg(w)["gauges"],
        require_da_valid=config["network"]["require_da_valid"],
    script:
        "../scripts/build_gauge_subnetworks.py"


rule build_membership:
    input:
        network="results/network/{domain}/network.nc",
        subnetworks="results/network/{domain}/gauge_subnetworks.nc",
    output:
        membership="results/network/{domain}/gauge_membership.nc",
    log:
        "logs/build_membership/{domain}.log",
    benchmark:
        "logs/benchmarks/build_membership/{domain}.tsv"
    conda:
        "../../envs/dhbv.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "../scripts/build_membership.py"
