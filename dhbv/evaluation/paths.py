"""Files of the evaluation stage of a workflow run (used by workflow/rules/evaluate.smk)."""
from __future__ import annotations

import re

__all__ = ["evaluated_datasets", "evaluation_locations", "evaluation_references",
           "evaluation_simulations", "evaluation_inputs", "evaluation_figures",
           "unit_map_variables", "unit_map_datasets", "baseline_names", "baseline_model_config",
           "LSTM_MODEL_KEYS", "parameter_map_datasets", "parameter_map_period"]

#: Keys of the ``model`` section the LSTM baseline reads (others do not retrain it).
LSTM_MODEL_KEYS = ("attributes", "dynamic_inputs", "lstm_hidden", "dropout",
                   "lstm_dropout", "warmup", "statistics")

#: Figures of every run; ``dnse_map`` is added when two models are compared.
FIGURES = ("nse_cdf", "nse_maps", "nse_by_area", "spearman_bias", "nnse_hist", "hydrographs")


def evaluated_datasets(config: dict) -> list[str]:
    """The datasets the run simulates and scores (none without a trained model)."""
    return list(config["simulate"]["datasets"]) if config["train"]["dataset"] else []


def evaluation_figures(config: dict) -> list[str]:
    """Names of the run's figures (results/evaluation/<run>/figures/<name>.png)."""
    ev = config["evaluation"]
    two = len(ev["models"]) >= 2 or ev["compare"]
    return (list(FIGURES) + (["dnse_map"] if two else [])
            + [f"unit_maps_{d}" for d in unit_map_datasets(config)]
            + [f"parameter_maps_{d}" for d in parameter_map_datasets(config)])


def evaluation_locations(config: dict) -> dict:
    """{dataset: {"forcing", "membership"}}: the standard forms giving gauge positions."""
    return {d: {"forcing": f"results/datasets/{d}/unit_forcing.nc",
                "membership": f"results/datasets/{d}/gauge_membership.nc"}
            for d in evaluated_datasets(config)}


def evaluation_references(config: dict, run: str) -> dict:
    """{dataset: the run's simulation, whose ``observed`` are the observations}."""
    return {d: f"results/simulation/{run}/{d}/streamflow.nc" for d in evaluated_datasets(config)}


def evaluation_simulations(config: dict, run: str) -> dict:
    """{model: {dataset: simulation NetCDF}} for every model of ``evaluation.models``."""
    out = {}
    for name, m in config["evaluation"]["models"].items():
        files = {}
        for d in m["datasets"] or evaluated_datasets(config):
            if m["source"] == "run":
                files[d] = f"results/simulation/{run}/{d}/streamflow.nc"
            elif m["source"] == "member":
                files[d] = f"results/simulation/{run}/{d}/member{m['member']}.nc"
            elif m["source"] == "lstm":
                files[d] = f"results/simulation/{run}/{d}/baseline_{baseline_names(config)[name]}.nc"
            else:
                files[d] = m["path"]
        out[name] = files
    return out


def evaluation_inputs(config: dict, run: str) -> dict:
    """Every file the evaluation reads, as flat named rule inputs."""
    files = {f"reference_{d}": p for d, p in evaluation_references(config, run).items()}
    for d, forms in evaluation_locations(config).items():
        files.update({f"{k}_{d}": p for k, p in forms.items()})
    for name, per in evaluation_simulations(config, run).items():
        files.update({f"sim_{name}_{d}": p for d, p in per.items()})
    return files


def unit_map_variables(config: dict) -> list[str]:
    """Unit outputs of the domain simulation that the unit maps show."""
    from dhbv.plots.unit_maps import MAP_VARIABLES

    return [v for v in MAP_VARIABLES if v in config["simulate_domain"]["variables"]]


def unit_map_datasets(config: dict) -> list[str]:
    """Domain-simulated forcing sets with unit polygons (maps of their long-term means)."""
    if not config["train"]["dataset"] or not unit_map_variables(config):
        return []
    sets = config["forcing"]["sets"]
    return [d for d in config["simulate_domain"]["datasets"]
            if d in sets and sets[d].get("polygons")]


def parameter_map_datasets(config: dict) -> list[str]:
    """Domain-simulated forcing sets with unit polygons whose learned HBV parameters are
    mapped (none when the run itself is an LSTM baseline, which has no HBV parameters)."""
    if not config["train"]["dataset"] or config["model"].get("type") == "lstm":
        return []
    sets = config["forcing"]["sets"]
    return [d for d in config["simulate_domain"]["datasets"]
            if d in sets and sets[d].get("polygons")]


def parameter_map_period(config: dict, dataset: str) -> list[str]:
    """[start, end] over which the parameter maps of ``dataset`` average the dynamic
    parameters: the first chunk of its domain simulation (so the map reads no more forcing
    than a chunk job)."""
    from dhbv.time_chunks import chunk_periods, domain_period

    sd = config["simulate_domain"]
    start, end = chunk_periods(domain_period(sd, dataset), sd["chunk_years"])[0]
    return [str(start.date()), str(end.date())]


def baseline_names(config: dict) -> dict[str, str]:
    """{model name: folder name} of the ``source: lstm`` models of ``evaluation.models``; the
    folder (``results/models/<run>/baselines/<folder>/``) is the name with every character
    outside letters, digits, ``_``, ``.`` and ``-`` replaced by ``_`` (``-2``, ``-3`` … added
    when two names give the same folder)."""
    out, used = {}, set()
    for name, m in config["evaluation"]["models"].items():
        if m["source"] != "lstm":
            continue
        slug = re.sub(r"[^A-Za-z0-9_.-]", "_", str(name)).strip(".") or "lstm"
        folder, k = slug, 1
        while folder in used:
            k += 1
            folder = f"{slug}-{k}"
        used.add(folder)
        out[name] = folder
    return out


def baseline_model_config(config: dict, folder: str) -> dict:
    """The ``model`` section of the LSTM baseline trained in ``baselines/<folder>``: the run's
    inputs and warm-up (:data:`LSTM_MODEL_KEYS`), ``type: lstm``, and the entry's own
    ``lstm_hidden`` / ``lstm_dropout`` where given."""
    names = {f: n for n, f in baseline_names(config).items()}
    entry = config["evaluation"]["models"][names[folder]]
    mc = {k: config["model"][k] for k in LSTM_MODEL_KEYS if k in config["model"]}
    mc["type"] = "lstm"
    for k in ("lstm_hidden", "lstm_dropout"):
        if entry.get(k) is not None:
            mc[k] = entry[k]
    return mc
