"""Whole-workflow tests: dry runs, lint, the SLURM profile, rerun-on-params, the demo DAG."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from conftest import REPO, copy_workflow, run_snakemake

FAKE_SLURM = REPO / "tests" / "fake_slurm"


def job_counts(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table of a (dry) run into {rule: count}."""
    counts: dict[str, int] = {}
    block = output.split("Job stats:", 1)[-1]
    for line in block.splitlines()[3:]:
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if not m:
            break
        if m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts


TINY = ("--configfile", "tests/config/tiny.yaml", "--replace-workflow-config")
EVALUATION_FIGURES = ("nse_cdf", "nse_maps", "dnse_map", "nse_by_area", "spearman_bias",
                      "nnse_hist", "hydrographs")


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The whole DAG on the CI-sized config, run once in a copy of the workflow."""
    work = copy_workflow(tmp_path_factory.mktemp("tiny"))
    proc = run_snakemake(work, "--cores", "2", *TINY)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return work


def test_dry_run_default_config(tmp_path):
    work = copy_workflow(tmp_path)
    proc = run_snakemake(work, "-n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts["build_topology"] == 2 and counts["build_membership"] == 1
    assert counts["train_model"] == 1 and counts["simulate_basins"] == 2
    assert counts["aggregate_forcing"] == 2 and counts["build_coverage_weights"] == 2
    # the Stehekin sub-units over the Maurer record 1950-2005 and the Caravan basins over
    # 1982-2014 (each after a year of spin-up), one chunk a year
    assert counts["simulate_domain_chunk"] == 56 + 33
    out = proc.stdout
    for first, last in (("19500101-19501231", "20050101-20051231"),
                        ("19820101-19821231", "20140101-20141231")):
        assert f"/chunks/{first}.zarr" in out and f"/chunks/{last}.zarr" in out


def test_dry_run_routes_the_juniata_in_yearly_chunks(tmp_path):
    """The demo routes the Juniata's Q' over its whole record, 1980-2010, in 31 yearly chunks."""
    work = copy_workflow(tmp_path)
    proc = run_snakemake(work, "-n", "results/routing/juniata/summary.csv")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts["route_domain_chunk"] == 31 and counts["summarize_domain_routing"] == 1
    for label in ("19800101-19801231", "20100101-20101231"):
        assert f"results/routing/juniata/chunks/{label}.zarr" in proc.stdout


def test_lint_is_clean(tmp_path):
    work = copy_workflow(tmp_path)
    proc = run_snakemake(work, "--lint")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Lints for" not in proc.stdout + proc.stderr


def test_bad_config_stops_with_one_line(tmp_path):
    work = copy_workflow(tmp_path)
    proc = run_snakemake(work, "-n", "--config", "network={'min_slope': 'steep'}")
    assert proc.returncode != 0
    assert "network.min_slope must be of type number (got 'steep')" in proc.stdout + proc.stderr


def _slurm_env(tmp_path: Path) -> dict:
    log = tmp_path / "slurm_calls.log"
    import os
    return {"PATH": f"{FAKE_SLURM}:{os.environ['PATH']}", "FAKE_SLURM_LOG": str(log)}


def _slurm_dry_run(tmp_path, *args) -> str:
    """Output of a dry run with the slurm profile and the stand-in SLURM commands."""
    work = copy_workflow(tmp_path / "wf")
    proc = run_snakemake(work, "--profile", "slurm", "-n", *args, env=_slurm_env(tmp_path))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    return out


def test_slurm_profile_dry_run_requests(tmp_path):
    out = _slurm_dry_run(tmp_path, "--cores", "all")
    assert "Using profiles slurm" in out
    assert "slurm_partition=cpu" in out and "slurm_account=myaccount" in out


def test_slurm_profile_submits_with_partition_and_account(tmp_path):
    """The real executor plugin builds the sbatch line; the stand-in sbatch records it."""
    work = copy_workflow(tmp_path / "wf")
    env = _slurm_env(tmp_path)
    run_snakemake(work, "--cores", "all", "--profile", "slurm", "--retries", "0",
                  "--latency-wait", "1", "--slurm-init-seconds-before-status-checks", "1",
                  "--until", "build_topology", env=env, timeout=300)
    calls = Path(env["FAKE_SLURM_LOG"]).read_text()
    sbatch = [line for line in calls.splitlines() if line.startswith("sbatch ")]
    assert sbatch, calls
    assert all("-A myaccount" in s and "-p cpu" in s and "--mem 4000" in s for s in sbatch)
    assert not any("--gpus" in s for s in sbatch)


def test_demo_dag_outputs(demo_run):
    net = xr.open_dataset(demo_run / "results/network/juniata/network.nc")
    assert net.sizes["reach"] == 213
    assert (demo_run / "results/network/juniata/gauge_subnetworks.nc").exists()
    assert (demo_run / "logs/build_topology/juniata.log").exists()
    assert (demo_run / "logs/benchmarks/build_topology/juniata.tsv").exists()
    assert (demo_run / "results/network/juniata/gauge_membership.nc").exists()
    run = demo_run / "results/models/tiny"
    for name in ("model.pt", "normalization_statistics.json", "training_log.csv",
                 "config.resolved.yaml"):
        assert (run / name).exists(), name
    scores = pd.read_csv(demo_run / "results/simulation/tiny/tiny_unseen/scores.csv",
                         dtype={"gauge": str})
    assert sorted(scores["gauge"]) == ["01547700", "03015500"]
    assert np.isfinite(scores["nse"]).all() and (scores["n_days"] == 730).all()
    sim = xr.open_dataset(demo_run / "results/simulation/tiny/tiny_unseen/streamflow.nc")
    assert np.isfinite(sim["streamflow"].values).all() and (sim["streamflow"].values >= 0).all()


def report_items(html: str) -> dict[str, tuple[str, bytes]]:
    """{path: (mime type, content)} of the results embedded in a Snakemake HTML report."""
    import base64

    items = {}
    for m in re.finditer(r'"(results/[^"]+)": \{"name".*?"mime_type": "([^"]+)".*?'
                         r'"data_uri": "data:[^,]*;base64,([^"]*)"', html):
        items[m.group(1)] = (m.group(2), base64.b64decode(m.group(3)))
    return items


def test_evaluation_table_and_report(demo_run):
    """The tiny run ends with the metrics table (both models, every gauge), the figures and
    one self-contained HTML report holding all of them and the run's configuration."""
    base = demo_run / "results/evaluation/tiny"
    table = pd.read_csv(base / "metrics.csv", dtype={"gauge": str})
    assert sorted(set(table["model"])) == ["ensemble", "lstm", "member0"]
    assert sorted(table["gauge"]) == ["01547700"] * 3 + ["03015500"] * 3
    # the LSTM-only baseline: trained by the same trainer on the same dataset and train
    # section, its own run directory (model.type lstm), scored beside the δHBV2.0 ensemble
    import yaml

    base_cfg = yaml.safe_load((demo_run / "results/models/tiny/baselines/lstm/"
                               "config.resolved.yaml").read_text())
    run_cfg = yaml.safe_load((demo_run / "results/models/tiny/config.resolved.yaml").read_text())
    assert base_cfg["model"]["type"] == "lstm" and base_cfg["model"]["lstm_hidden"] == 6
    assert base_cfg["train"] == run_cfg["train"]
    assert base_cfg["model"]["attributes"] == run_cfg["model"]["attributes"]
    lstm = table[table["model"] == "lstm"]
    assert np.isfinite(lstm["nse"]).all() and not lstm["excluded"].any()
    assert table[["area", "lat", "lon", "nse", "kge", "nnse"]].notna().all().all()
    assert (table["n_days"] == 730).all() and (table["period_start"] == "1985-10-01").all()
    # the ensemble's NSE is the one simulate_basins scored
    scores = pd.read_csv(demo_run / "results/simulation/tiny/tiny_unseen/scores.csv",
                         dtype={"gauge": str}).set_index("gauge")
    ens = table[table["model"] == "ensemble"].set_index("gauge")
    np.testing.assert_allclose(ens["nse"], scores.loc[ens.index, "nse"], rtol=1e-6)
    proc = run_snakemake(demo_run, "--report", "results/report.html", *TINY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (demo_run / "results/report.html").read_text()
    assert "Undefined substitution" not in proc.stderr
    items = report_items(html)
    for name in EVALUATION_FIGURES:
        mime, data = items[f"results/evaluation/tiny/figures/{name}.png"]
        assert mime == "image/png" and data.startswith(b"\x89PNG") and len(data) > 5000, name
    for name in ("unit_maps", "parameter_maps"):       # fluxes and learned parameters
        mime, data = items[f"results/evaluation/tiny/figures/{name}_stehekin_subunits.png"]
        assert mime == "image/png" and data.startswith(b"\x89PNG"), name
    mime, data = items["results/evaluation/tiny/metrics.csv"]
    assert mime == "text/csv" and data.decode() == (base / "metrics.csv").read_text()
    assert "results/evaluation/tiny/summary.csv" in items
    _, data = items["results/evaluation/tiny/configuration.yaml"]
    assert "evaluation:" in data.decode() and "member0" in data.decode()


def test_ungauged_folds_score_every_gauge_out_of_fold(demo_run):
    """PUB on the tiny dataset (4 gauges, 2 folds): each gauge scored once, by the model of
    its own fold, which never trained on it."""
    import yaml

    base = demo_run / "results/ungauged/tiny"
    folds = pd.read_csv(base / "folds.csv", dtype={"gauge": str})
    scores = pd.read_csv(base / "scores.csv", dtype={"gauge": str})
    assert sorted(scores["gauge"]) == sorted(folds["gauge"]) and len(folds) == 4
    merged = scores.merge(folds, on="gauge", suffixes=("", "_assigned"))
    assert (merged["fold"] == merged["fold_assigned"]).all()
    for k in (0, 1):
        cfg = yaml.safe_load((base / f"fold{k}/config.resolved.yaml").read_text())
        held = set(folds.loc[folds["fold"] == k, "gauge"])
        assert held and not held & set(cfg["train"]["gauges"])
        assert set(cfg["train"]["gauges"]) | held == set(folds["gauge"])
        assert cfg["train"]["ensemble"] == 1
    assert "median_nse" in (base / "summary.json").read_text()


def test_params_edit_reruns_exactly_the_affected_rules(demo_run):
    proc = run_snakemake(demo_run, "-n", *TINY)
    assert "Nothing to be done" in proc.stdout + proc.stderr

    def dry_run_with(text: str) -> dict[str, int]:
        (demo_run / "edit.yaml").write_text(text)
        proc = run_snakemake(demo_run, "-n", "--configfile", "tests/config/tiny.yaml",
                             "edit.yaml", "--replace-workflow-config")
        assert proc.returncode == 0, proc.stderr[-2000:]
        return job_counts(proc.stdout + proc.stderr)

    # Every setting that is not a knob is in the report's copy of the configuration.
    cfg = {"write_run_configuration": 1}
    # A gauge-table option affects only the gauge subnetworks and their membership.
    assert dry_run_with("network: {require_da_valid: true}\n") == {
        "build_gauge_subnetworks": 1, "build_membership": 1, **cfg, "all": 1}
    # The slope floor affects the topology build and what depends on it (the learned routing
    # and its chunked products).
    routing = {"train_routing": 1, "route_flows": 1, "route_domain_chunk": 1,
               "summarize_domain_routing": 1}
    assert dry_run_with("network: {min_slope: 0.002}\n") == {
        "build_topology": 1, "build_gauge_subnetworks": 1, "build_membership": 1,
        **routing, **cfg, "all": 1}
    # A routing option relearns the routing and reapplies it, nothing else.
    assert dry_run_with("routing: {lr: 0.01}\n") == {**routing, **cfg, "all": 1}
    # A longer routed period adds chunk jobs; the chunk done is not routed again.
    assert dry_run_with("routing: {period: ['1982-10-01', '1984-09-30']}\n") == {
        "route_domain_chunk": 1, "summarize_domain_routing": 1, **cfg, "all": 1}
    # A training option reruns training and the simulations that use the models, nothing else.
    pub = {"train_fold": 2, "simulate_fold": 2, "collect_ungauged_scores": 1}
    evaluation = {"evaluate_models": 1, **{f"plot_{f}": 1 for f in EVALUATION_FIGURES}}
    domain = {"simulate_domain_chunk": 3, "summarize_domain_simulation": 1, "plot_unit_maps": 1,
              "plot_parameter_maps": 1}
    assert dry_run_with("train: {epochs: 2}\n") == {
        "train_model": 1, "simulate_basins": 1, "simulate_member": 1, "train_baseline": 1,
        "simulate_baseline": 1, **pub, **evaluation, **domain, **cfg, "all": 1}
    # A δHBV2.0-only model option (MLP width) leaves the LSTM baseline as it is.
    assert "train_baseline" not in dry_run_with("model: {mlp_hidden: 8}\n")
    # A scoring option reruns only the simulations, the scores and the evaluation.
    assert dry_run_with("evaluation: {min_days: 200}\n") == {
        "simulate_basins": 1, "simulate_fold": 2, "collect_ungauged_scores": 1, **evaluation,
        **cfg, "all": 1}
    # A figure option reruns only its figure.
    assert dry_run_with("evaluation: {hydrograph_gauges: ['01547700']}\n") == {
        "plot_hydrographs": 1, **cfg, "all": 1}
    # The fold seed reruns the PUB stage only.
    assert dry_run_with("ungauged: {seed: 2}\n") == {"build_folds": 1, **pub, **cfg, "all": 1}
    # A new daily network input rebuilds the datasets and retrains.
    counts = dry_run_with("model: {dynamic_inputs: [P, T, PET, PET_source]}\n")
    assert counts["build_training_data"] == 2 and counts["train_model"] == 1
    # Knobs (speed and memory, not results) rerun nothing.
    for knob in ("forcing: {chunk_days: 500}", "run: {threads: 1}", "train: {progress: true}",
                 "simulate: {batch_gauges: 3}", "run: {device: auto}"):
        assert dry_run_with(knob + "\n") == {}, knob


def test_workflow_and_cli_resolve_the_same_configuration(demo_run):
    """The run directory the workflow trains holds the configuration the CLI resolves from
    the same YAML (same schema defaults; only the data paths differ)."""
    import yaml

    from dhbv.config import load_config, resolve_config

    written = yaml.safe_load((demo_run / "results/models/tiny/config.resolved.yaml").read_text())
    cli = resolve_config(load_config(REPO / "tests/config/tiny.yaml"))
    for section in ("model", "train"):
        assert written[section] == cli[section], section
    assert written["run"] == cli["run"] and written["evaluation"]["period"] == \
        cli["evaluation"]["period"]


@pytest.mark.parametrize("cfg", sorted(p.name for p in (REPO / "config").glob("*.yaml")))
def test_every_experiment_config_runs_through_snakemake(cfg, tmp_path):
    work = copy_workflow(tmp_path)
    proc = run_snakemake(work, "-n", "--configfile", f"config/{cfg}", "--replace-workflow-config")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts.get("train_model") == 1 and counts.get("simulate_basins", 0) >= 1


def test_camels57_one_command_gives_the_full_figure_set(tmp_path):
    """config/camels57.yaml: one snakemake call trains δHBV2.0 and the LSTM baseline,
    simulates the 57 basins and the 120 unseen ones with both, and draws every figure."""
    work = copy_workflow(tmp_path)
    proc = run_snakemake(work, "-n", "--configfile", "config/camels57.yaml",
                         "--replace-workflow-config")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    counts = job_counts(out)
    assert counts["train_model"] == 1 and counts["train_baseline"] == 1
    assert counts["simulate_basins"] == 2 and counts["simulate_baseline"] == 2
    for name in EVALUATION_FIGURES:
        assert counts[f"plot_{name}"] == 1, name
        assert f"results/evaluation/camels57/figures/{name}.png" in out
    assert "results/models/camels57/baselines/LSTM/model.pt" in out
    for d in ("camels57", "more120"):
        assert f"results/simulation/camels57/{d}/baseline_LSTM.nc" in out


def test_demo_forcing_sub_units_conserve_basin_volume(demo_run):
    """Area-weighted mean of the 19 sub-unit series equals the basin-polygon series."""
    basin = xr.open_dataset(demo_run / "results/forcing/stehekin_basin/unit_forcing.nc")
    subs = xr.open_dataset(demo_run / "results/forcing/stehekin_subunits/unit_forcing.nc")
    assert subs.sizes["unit"] == 19 and basin.sizes["unit"] == 1
    assert basin["P"].attrs["units"] == "mm d-1"
    weighted = (subs["P"] * subs["area"]).sum("unit") / subs["area"].sum()
    total_basin = float(basin["P"].sum())
    assert abs(float(weighted.sum()) - total_basin) / total_basin < 5e-4


def test_retrieval_rules_only_when_online(tmp_path):
    """prestaged (default): no retrieve_* job; online: one job per download, dry run offline."""
    work = copy_workflow(tmp_path)
    proc = run_snakemake(work, "-n")
    assert not any(r.startswith("retrieve_") for r in job_counts(proc.stdout + proc.stderr))
    (work / "online.yaml").write_text(
        "data: {source: online}\n"
        "retrieve:\n"
        "  usgs: {gauges: ['01567000'], period: ['1990-01-01', '1990-12-31']}\n"
        "  gridmet: {sets: {stehekin: {bbox: [-121.1, 48.2, -120.6, 48.6],"
        " period: ['2000-01-01', '2000-12-31']}}}\n"
        "  merit_basins: {zones: ['71']}\n"
    )
    proc = run_snakemake(work, "-n", "--configfile", "online.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = job_counts(proc.stdout + proc.stderr)
    assert counts["retrieve_gridmet"] == 3
    assert counts["retrieve_usgs_streamflow"] == 1 and counts["retrieve_merit_basins"] == 1


def test_slurm_profile_requests_gpu_for_training(demo_run, tmp_path):
    """train_model is submitted to the GPU partition with the profile's GPU model and CPUs."""
    env = _slurm_env(tmp_path)
    run_snakemake(demo_run, "--cores", "all", "--profile", "slurm", *TINY, "-R", "train_model",
                  "--until", "train_model", "--retries", "0", "--latency-wait", "1",
                  "--slurm-init-seconds-before-status-checks", "1", env=env, timeout=300)
    sbatch = [s for s in Path(env["FAKE_SLURM_LOG"]).read_text().splitlines()
              if s.startswith("sbatch ")]
    assert len(sbatch) == 1 and "rule_train_model" in sbatch[0], sbatch
    for flag in ("-p gpu", "--gpus=a100:1", "--cpus-per-gpu=8", "-t 720", "--mem 64000",
                 "-A myaccount"):
        assert flag in sbatch[0], flag


def test_slurm_profile_dry_run_shows_gpu_request(tmp_path):
    out = _slurm_dry_run(tmp_path, "--until", "train_model")
    block = out[out.index("rule train_model"):]
    block = block[:block.index("\n\n")]
    assert "slurm_partition=gpu" in block and "gpu=1" in block and "gpu_model=a100" in block


def test_demo_routing_in_chunks(demo_run):
    """The tiny DAG routes the Juniata's Q' of its routing period (one yearly chunk) into a CF
    zarr store of the 213 reaches and the gauge, and the gauge's test-year NSE computed from
    that store equals the routed test NSE of scores.csv (both hot-started 30 days before)."""
    base = demo_run / "results/routing/juniata"
    assert [p.name for p in (base / "chunks").glob("*.zarr")] == ["19821001-19830930.zarr"]
    assert (base / "states/19821001-19830930.pt").exists() and (base / "summary.csv").exists()
    with xr.open_zarr(base / "chunks/19821001-19830930.zarr", consolidated=False) as ds:
        assert ds.sizes["reach"] == 213 and ds.sizes["time"] == 364   # the last day needs
        assert ds["streamflow"].attrs["units"] == "m3 s-1"            # the next record
        sim = ds["gauge_streamflow"].sel(gauge="01567000").values.astype(float)
        days = ds["time"].values
    with xr.open_dataset(demo_run / "resources/demo/juniata_merit/juniata_obs.nc") as o:
        obs = o["streamflow"].sel(gage_id="01567000", time=days).values.astype(float)
    m = np.isfinite(obs)
    nse = 1 - ((sim[m] - obs[m]) ** 2).sum() / ((obs[m] - obs[m].mean()) ** 2).sum()
    scores = pd.read_csv(base / "scores.csv", dtype={"gauge": str})
    test = scores[(scores["period"] == "test") & (scores["flow"] == "routed")]
    assert nse == pytest.approx(test["nse"].item(), abs=2e-3)
    assert not (base / "discharge.nc").exists()


def test_demo_domain_simulation_in_chunks(demo_run):
    """The tiny DAG simulates the 19 Stehekin sub-units in 3 yearly chunks, each from the
    previous chunk's state, and closes their water balance."""
    base = demo_run / "results/domain/tiny/stehekin_subunits"
    stores = sorted((base / "chunks").glob("*.zarr"))
    assert [s.name for s in stores] == ["19850101-19851231.zarr", "19860101-19861231.zarr",
                                        "19870101-19871231.zarr"]
    assert sorted(p.name for p in (base / "states").iterdir()) == [
        "19850101-19851231.pt", "19860101-19861231.pt", "19870101-19871231.pt"]
    days = 0
    for s in stores:  # as a user opens them: from the consolidated metadata
        with xr.open_zarr(s, consolidated=True) as ds:
            assert ds.sizes["unit"] == 19 and np.isfinite(ds["runoff"].values).all()
            days += ds.sizes["time"]
    assert days == 365 * 3
    summary = pd.read_csv(base / "summary.csv", dtype={"unit": str})
    assert len(summary) == 19 and np.abs(summary["closure"]).max() < 0.1
