"""The CONUS configuration's whole job graph on SLURM without any data (dry run), and chunk-local
reruns of the domain simulation (only the chunks whose forcing or days changed, and those after
them)."""

from __future__ import annotations

import os
import re

import pytest

from conftest import REPO, copy_workflow, run_snakemake
from test_workflow_dag import job_counts

FAKE_SLURM = REPO / "tests" / "fake_slurm"
ZONES = ["71", "72", "73", "74", "75", "77", "78"]
YEARS = 2020 - 1980 + 1  # 1980-2020 in yearly chunks
TINY = ("--configfile", "tests/config/tiny.yaml", "--replace-workflow-config")


@pytest.mark.slow
def test_conus_slurm_dry_run_shows_the_whole_graph(tmp_path):
    work = copy_workflow(tmp_path / "wf")
    env = {"PATH": f"{FAKE_SLURM}:{os.environ['PATH']}",
           "FAKE_SLURM_LOG": str(tmp_path / "slurm_calls.log")}
    proc = run_snakemake(work, "-n", "--profile", "slurm", "--configfile", "config/conus.yaml",
                         "--replace-workflow-config", env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    z = len(ZONES)
    counts = job_counts(out)
    # figures: one per run or one per simulated zone (their list grows with the evaluation stage)
    figures = {r: n for r, n in counts.items() if r.startswith("plot_")}
    assert {"plot_unit_maps", "plot_nse_cdf", "plot_hydrographs"} <= set(figures)
    assert set(figures.values()) <= {1, z} and figures["plot_unit_maps"] == z
    assert {r: n for r, n in counts.items() if r not in figures} == {
        "retrieve_merit_basins": z, "retrieve_merit_attributes": z, "retrieve_gridmet": 3,
        "retrieve_usgs_streamflow": 1,
        "build_topology": z, "build_gauge_subnetworks": z, "build_membership": z,
        "build_coverage_weights": z, "aggregate_forcing": z, "build_unit_attributes": z,
        "build_training_data": 1, "train_model": 1,
        "slice_domain_forcing": z * YEARS, "simulate_domain_chunk": z * YEARS,
        "summarize_domain_simulation": z,
        "simulate_basins": 1, "evaluate_models": 1, "write_run_configuration": 1, "all": 1}
    # 574 per-zone, per-year jobs go to the cluster as one job per zone
    assert out.count("Group job simulate_domain") == z
    chunks = re.findall(r"chunk=(\d{8})-(\d{8})", out)
    assert sorted({a for a, _ in chunks})[0] == "19800101"
    assert sorted({b for _, b in chunks})[-1] == "20201231"
    # training on the GPU partition, chunks on CPU with the profile's resources
    block = out[out.index("rule train_model:"):]
    block = block[:block.index("\n\n")]
    assert "slurm_partition=gpu" in block and "gpu=1" in block
    block = out[out.index("rule simulate_domain_chunk:"):]
    block = block[:block.index("Shell command")]
    assert "slurm_partition=cpu" in block and "runtime=20" in block and "mem_mb=16000" in block
    # nothing was fetched or built
    assert not (work / "results").exists() and not (work / "resources/merit").exists()


def _outputs(dry_run: str) -> list[str]:
    files = []
    for line in dry_run.splitlines():
        m = re.match(r"\s*output: (.*)$", line)
        if m:
            files += [f.strip() for f in m.group(1).split(",")]
    return files


def _dry(work, *extra_configs) -> dict[str, int]:
    proc = run_snakemake(work, "-n", "--configfile", "tests/config/tiny.yaml", *extra_configs,
                         "--replace-workflow-config", "all_domain_simulations")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return job_counts(proc.stdout + proc.stderr)


@pytest.mark.slow
def test_new_forcing_of_late_chunks_reruns_only_those_chunks(tmp_path):
    """Tiny config (3 yearly chunks), outputs marked done (--touch): new forcing for the last
    chunk reruns that chunk only; for the middle chunk, it and the last one (which reads its
    state); one more year adds one slice and one chunk and reruns none of the others."""
    work = copy_workflow(tmp_path / "wf")
    proc = run_snakemake(work, "-n", *TINY, "all_domain_simulations")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for f in _outputs(proc.stdout + proc.stderr):
        p = work / f
        p.parent.mkdir(parents=True, exist_ok=True)
        p.mkdir() if f.endswith(".zarr") else p.touch()
    proc = run_snakemake(work, "--touch", "--cores", "1", *TINY, "all_domain_simulations")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _dry(work) == {}

    slices = work / "results/domain/forcing/stehekin_subunits"
    assert sorted(p.name for p in slices.iterdir()) == [
        "19850101-19851231.nc", "19860101-19861231.nc", "19870101-19871231.nc"]
    # new forcing for 1987 reruns the 1987 chunk only (new content: for files this small
    # Snakemake compares checksums, so a bare touch would not count)
    (slices / "19870101-19871231.nc").write_bytes(b"revised forcing of 1987")
    assert _dry(work) == {"simulate_domain_chunk": 1, "summarize_domain_simulation": 1,
                          "all_domain_simulations": 1}
    # one more year: its slice and chunk, none of the chunks before it (but 1987 from above)
    (work / "longer.yaml").write_text(
        "simulate_domain: {period: ['1985-01-01', '1988-12-31']}\n")
    assert _dry(work, "longer.yaml") == {
        "slice_domain_forcing": 1, "simulate_domain_chunk": 2,
        "summarize_domain_simulation": 1, "all_domain_simulations": 1}
    # new forcing for 1986: the 1986 chunk and the 1987 one, which starts from its state
    (slices / "19860101-19861231.nc").write_bytes(b"revised forcing of 1986")
    assert _dry(work) == {"simulate_domain_chunk": 2, "summarize_domain_simulation": 1,
                          "all_domain_simulations": 1}


@pytest.mark.slow
def test_conus_mc_experiment_routes_every_zone(tmp_path):
    """experiments/conus/mc.yaml (δHBV2.0MC): the same jobs as the UH graph, the training data
    carry every zone's network, and each zone's chunk jobs read its own network and gauge table
    (the routed streamflow of every reach)."""
    work = copy_workflow(tmp_path / "wf")
    proc = run_snakemake(work, "-n", "--configfile", "config/conus.yaml",
                         "experiments/conus/mc.yaml", "--replace-workflow-config")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    counts = job_counts(out)
    assert counts["simulate_domain_chunk"] == len(ZONES) * YEARS and counts["train_model"] == 1
    block = out[out.index("rule build_training_data:"):]
    block = block[:block.index("\n\n")]
    assert "conus_gages2_mc" in block
    assert all(f"results/network/merit_{z}/network.nc" in block for z in ZONES)
    for z in ZONES:
        jobs = [b for b in out.split("rule simulate_domain_chunk:")[1:]
                if f"dataset=merit_{z}," in b]
        assert len(jobs) == YEARS
        assert all(f"results/network/merit_{z}/network.nc" in b.split("output:")[0]
                   and "GAGES-II.csv" in b.split("output:")[0] for b in jobs)
    assert not (work / "results").exists()
