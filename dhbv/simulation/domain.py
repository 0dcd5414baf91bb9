"""Domain simulation in time chunks with exact state carry-over (UH-only δHBV2.0 product).

Every unit of a dataset is simulated over ``period`` in chunks of ``chunk_years`` years
(:mod:`dhbv.time_chunks`). The first chunk starts from cold stores after a spin-up
(``simulate.spinup``: null = ``model.warmup`` days, N days, or ``full`` = from the first forcing
day); every later chunk starts from the previous chunk's state file (:mod:`.state`: LSTM h/c,
HBV stores per component, UH history), so the chunked run equals the unchunked one within
float32 round-off. Each chunk writes a CF zarr store (:mod:`.store`) and its end state; a
chunk counts as done only when both exist, so a killed run resumes at the first missing chunk.
A δHBV2.0MC run (readout ``muskingum_cunge``) given the domain's river network also routes
every chunk's unit runoff through the whole network (:mod:`.routed`): streamflow of every
reach and gauge in the store's group ``routed``, the routing state in the state file.

* :func:`simulate_domain_chunk` — rule ``simulate_domain_chunk`` (one chunk);
* :func:`simulate_domain` — ``dhbv simulate-domain``: every missing chunk, then the summary;
* :func:`summarize_domain_simulation` — rule of that name: per-unit water balance over all
  chunks (CSV) and the throughput.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from dhbv.errors import DhbvInputError
from dhbv.time_chunks import chunk_label, chunk_periods, find_chunk, parse_chunk_label

log = logging.getLogger(__name__)


def _spinup_days(spinup, model_warmup: int, forcing_path, start) -> int:
    """Spin-up days before the first chunk, shortened (with a warning) to the forcing start."""
    import xarray as xr

    from dhbv.config import parse_spinup

    spinup = parse_spinup(spinup, "simulate.spinup")
    with xr.open_dataset(forcing_path) as f:
        first = pd.Timestamp(f["time"].values[0]).normalize()
    avail = max((pd.Timestamp(start) - first).days, 0)
    if spinup == "full":
        return avail
    want = int(model_warmup if spinup is None else spinup)
    if want > avail:
        log.warning("spin-up shortened to %d days (forcing starts %s)", avail, first.date())
    return min(want, avail)


def simulate_chunk(run_dir, forms: dict, chunk, out_store, state_out, *, previous_state=None,
                   first: bool, spinup=None, variables=None, memory_mb: float = 2000,
                   batch_units=None, device="auto", bar=None, loaded=None, network=None,
                   gauge_table=None, gauges=()) -> dict:
    """Simulate one chunk (start, end) of every unit; write its store and end state.

    ``forms``: the dataset's standard forms ({forcing, attributes, ...} paths). ``first``: the
    first chunk (spin-up from cold), else ``previous_state`` is the previous chunk's state
    file. ``loaded``: an already loaded run (models, cfg, stats), e.g. across chunks.
    ``network`` (topology-stage ``network.nc`` whose reaches are the units; a run with the
    ``muskingum_cunge`` readout only): also route the chunk's runoff through it, reading
    ``gauges`` of ``gauge_table`` at their reaches (:mod:`.routed`).
    Returns the chunk's statistics (units, days, compute and write seconds, balance terms).
    """
    from dhbv.runner import load_run, resolve_device
    from dhbv.simulation.engine import Timing, batch_units as size_batches, simulate_window
    from dhbv.simulation.engine import subset_units
    from dhbv.simulation.inputs import load_window
    from dhbv.simulation.state import load_state, run_id, save_state
    from dhbv.simulation.store import UNIT_CHUNK, ChunkStore
    from dhbv.simulation.variables import DEFAULT_VARIABLES, check_variables

    start, end = pd.Timestamp(chunk[0]), pd.Timestamp(chunk[1])
    variables = check_variables(variables or DEFAULT_VARIABLES)
    dev = resolve_device(device)
    models, cfg, stats = loaded or load_run(run_dir, device=dev)
    mc = cfg["model"]
    rid = run_id(run_dir)
    warm = (_spinup_days(spinup if spinup is not None else cfg["simulate"].get("spinup"),
                         mc["warmup"], forms["forcing"], start) if first else 0)
    inputs = load_window(forms["forcing"], forms["attributes"], mc["attributes"],
                         mc["dynamic_inputs"], start - pd.Timedelta(days=warm), end)
    router = None
    if network is None and (gauges or gauge_table):
        raise DhbvInputError("gauges are read from the routed streamflow: give the river network "
                             "(--network) too, or leave out the gauges")
    if network is None and first and getattr(models[0], "readout", None) is not None \
            and getattr(models[0].readout, "name", "") == "muskingum_cunge":
        log.info("the run routes (muskingum_cunge) but no river network is given: unit outputs "
                 "only")
    if network is not None:
        from dhbv.simulation.routed import DomainRouter

        router = DomainRouter(models, inputs, stats, network, gauge_table=gauge_table,
                              gauges=gauges)
    lead = router.lead(warm) if router is not None and first else 0
    states, prev_routing = None, None
    if not first:
        if previous_state is None:
            raise DhbvInputError(f"chunk {chunk_label(chunk)} is not the first: give the previous "
                                 "chunk's state file")
        states = load_state(previous_state, run=rid, valid_at=start, unit_ids=inputs.unit_ids,
                            members=len(models),
                            routing=None if router is None else router.expect)
        if router is not None:
            states, prev_routing = states
    n_days = (end - start).days + 1
    n_batch = size_batches(models[0], n_days + warm, len(variables),
                           len(mc["dynamic_inputs"]), memory_mb, batch_units,
                           align=UNIT_CHUNK)
    store = ChunkStore(out_store, inputs.unit_ids, inputs.time[warm:], variables,
                       lat=inputs.lat, lon=inputs.lon, area=inputs.area,
                       attrs={"source": f"dhbv domain simulation, run {rid}",
                              "run_dir": str(Path(run_dir).resolve()), "run_id": rid,
                              "chunk": chunk_label(chunk), "spinup_days": warm,
                              "ensemble_members": len(models),
                              "history": f"{pd.Timestamp.now('UTC'):%Y-%m-%dT%H:%M}Z dhbv "
                                         "simulate_domain_chunk"})
    runoff = None
    if router is not None:      # every unit's runoff of the chunk (+ router spin-up) per member
        runoff = np.zeros((len(models), lead + n_days, len(inputs.unit_ids)), np.float32)
    try:
        if bar is not None and not bar.total:
            bar.total = len(inputs.unit_ids) * n_days
        ends, bal, timing = simulate_window(
            models, len(inputs.unit_ids), lambda u0, u1: subset_units(inputs, u0, u1), stats,
            mc["dynamic_inputs"], warm, states, variables, store, n_batch, dev, bar=bar,
            timing=Timing(), lead=lead, runoff=runoff)
        import zarr

        extra, routing_state = {}, None
        if router is not None:
            from dhbv.simulation.routed import route_chunk
            from dhbv.simulation.store import ROUTED_GROUP

            routing_state, secs = route_chunk(router, runoff, store.tmp, start=start, end=end,
                                              lead=lead, previous=prev_routing, run_id=rid,
                                              chunk=chunk_label(chunk))
            extra = {"routing_seconds": secs, "routed_group": ROUTED_GROUP}
            del runoff
        zarr.open_group(store.tmp, mode="a").attrs.update(
            {"compute_seconds": timing.compute_s, "write_seconds": timing.write_s,
             "unit_days": timing.unit_days, "batch_units": n_batch, **extra})
        save_state(state_out, ends, run=rid, valid_at=end + pd.Timedelta(days=1),
                   unit_ids=inputs.unit_ids, routing=routing_state)
        store.commit()
    except BaseException:
        store.discard()
        raise
    log.info("chunk %s: %d units x %d days in %.1f s compute + %.1f s write (batches of %d)",
             chunk_label(chunk), len(inputs.unit_ids), n_days, timing.compute_s, timing.write_s,
             n_batch)
    return {"units": len(inputs.unit_ids), "days": n_days, "compute_s": timing.compute_s,
            "write_s": timing.write_s, "balance": bal}


def simulate_domain_chunk(run_dir, forms: dict, chunk: str, out_store, state_out, *,
                          previous_state, spinup, variables, memory_mb, period=None,
                          chunk_years=None, first=None, batch_units=None, device="auto",
                          progress=False, network=None, gauge_table=None, gauges=()) -> Path:
    """Rule ``simulate_domain_chunk``: the chunk labelled ``chunk`` (``YYYYMMDD-YYYYMMDD``) from
    ``previous_state`` (None for the first); with ``network`` (δHBV2.0MC runs) also routed
    (see :func:`simulate_chunk`).

    With ``period`` and ``chunk_years`` the label must be a chunk of that period and the first
    chunk is found from it; without them (the workflow, so that a longer period does not rerun
    the chunks already simulated) the label gives the dates and ``first`` says whether the
    chunk starts from cold stores."""
    if period is not None:
        k = find_chunk(period, chunk_years, chunk)
        c = chunk_periods(period, chunk_years)[k]
        first = k == 0
    else:
        c = parse_chunk_label(chunk)
        if first is None:
            raise DhbvInputError(f"chunk {chunk}: say whether it is the first chunk (first=) or "
                                 "give the period and chunk_years")
    bar = _bar(progress, 0, f"chunk {chunk}")
    try:
        simulate_chunk(run_dir, forms, c, out_store, state_out, previous_state=previous_state,
                       first=bool(first), spinup=spinup, variables=variables, memory_mb=memory_mb,
                       batch_units=batch_units, device=device, bar=bar, network=network,
                       gauge_table=gauge_table, gauges=gauges)
    finally:
        if bar is not None:
            bar.close()
    return Path(out_store)


def _bar(progress: bool, total: int, desc: str):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total or None, desc=desc, unit="unit-day", unit_scale=True)


def chunk_paths(out_dir, period, chunk_years):
    """[(chunk, store path, state path)] of a domain simulation under ``out_dir``."""
    out = Path(out_dir)
    return [(c, out / "chunks" / f"{chunk_label(c)}.zarr", out / "states" / f"{chunk_label(c)}.pt")
            for c in chunk_periods(period, chunk_years)]


def simulate_domain(run_dir, forms: dict, out_dir, *, period, chunk_years=1, spinup=None,
                    variables=None, memory_mb: float = 2000, batch_units=None, device="auto",
                    progress=True, network=None, gauge_table=None, gauges=()) -> pd.DataFrame:
    """``dhbv simulate-domain``: every chunk of ``period`` not yet done (store and state both
    present), in order, into ``out_dir``/chunks and ``out_dir``/states; then the water-balance
    summary ``out_dir``/summary.csv (and, routed with ``network``, the routing balance per
    chunk ``out_dir``/routing_summary.csv). Returns the summary table."""
    from dhbv.runner import load_run, resolve_device

    paths = chunk_paths(out_dir, period, chunk_years)
    dev = resolve_device(device)
    loaded = load_run(run_dir, device=dev)
    todo = [k for k, (_, z, s) in enumerate(paths) if not (z.exists() and s.exists())]
    start = todo[0] if todo else len(paths)
    if start:
        log.info("resuming at chunk %d of %d (%s)", start + 1, len(paths),
                 chunk_label(paths[min(start, len(paths) - 1)][0]))
    bar = None
    if progress and start < len(paths):
        import xarray as xr

        with xr.open_dataset(forms["forcing"]) as f:
            n_units = f.sizes["unit"]
        bar = _bar(progress, n_units * sum((c[1] - c[0]).days + 1 for c, _, _ in paths[start:]),
                   "domain")
    try:
        for k in range(start, len(paths)):
            c, z, s = paths[k]
            if bar is not None:
                bar.set_description(f"chunk {k + 1}/{len(paths)} {chunk_label(c)}")
            simulate_chunk(run_dir, forms, c, z, s, previous_state=paths[k - 1][2] if k else None,
                           first=k == 0, spinup=spinup, variables=variables,
                           memory_mb=memory_mb, batch_units=batch_units, device=dev, bar=bar,
                           loaded=loaded, network=network, gauge_table=gauge_table,
                           gauges=gauges)
    finally:
        if bar is not None:
            bar.close()
    stores = [z for _, z, _ in paths]
    if network is not None:
        from dhbv.routing.chunks import summarize_domain_routing
        from dhbv.simulation.store import ROUTED_GROUP

        summarize_domain_routing(stores, Path(out_dir) / "routing_summary.csv",
                                 group=ROUTED_GROUP)
    return summarize_domain_simulation(stores, Path(out_dir) / "summary.csv")


def domain_routing_inputs(config: dict, dataset: str) -> tuple[dict, list]:
    """({"network": …[, "gauge_table": …]}, gauges) routing a domain-simulated ``dataset`` in
    the workflow; ({}, []) when nothing is routed.

    Routed only when ``model.readout`` is ``muskingum_cunge`` and the dataset has a river
    network, found as training finds it: the ``network`` of the dataset's sources
    (``datasets.<dataset>.sources[*].network``, one network), else the topology stage's
    ``results/network/<dataset>/network.nc`` when ``dataset`` is also a network domain
    (``domains.<dataset>``, e.g. a MERIT zone simulated from its forcing set). The gauges are
    those of that domain (``domains.<d>.gauge_table`` and ``gauges``) when it lists them.
    """
    import re

    if (config.get("model") or {}).get("readout", "area_weighted") != "muskingum_cunge":
        return {}, []
    domains = config.get("domains") or {}
    sources = ((config.get("datasets") or {}).get(dataset) or {}).get("sources") or []
    nets = list(dict.fromkeys(str(s["network"]) for s in sources if s.get("network")))
    if len(nets) > 1:
        raise DhbvInputError(f"datasets.{dataset}: its sources name {len(nets)} river networks; a "
                             "routed domain simulation routes one network per dataset")
    if nets:
        network = nets[0]
        m = re.fullmatch(r"results/network/([A-Za-z0-9_]+)/network\.nc", network)
        domain = m.group(1) if m else None
    elif dataset in domains:
        network, domain = f"results/network/{dataset}/network.nc", dataset
    else:
        return {}, []
    files = {"network": network}
    d = domains.get(domain) or {}
    gauges = [str(g) for g in (d.get("gauges") or [])]
    if d.get("gauge_table") and gauges:
        files["gauge_table"] = d["gauge_table"]
    else:
        gauges = []
    return files, gauges


def summarize_domain_simulation(stores, summary_csv, echo=print) -> pd.DataFrame:
    """Rule ``summarize_domain_simulation``: per-unit water balance over all chunk ``stores``
    (time order) → ``summary_csv``; prints throughput and domain-mean totals.

    Columns (mm over the whole period): P, AET, Q (routed runoff), dS (change of the five
    stores and the unit-hydrograph transit), exchange (net regional loss, −ΣLF), clamp_water
    (water created by the SM/SLZ floors), balance = P − AET − Q − dS − exchange (equal to
    clamp_water up to round-off) and closure = balance − clamp_water.
    """
    from dhbv.io.standard import write_text_atomic
    from dhbv.simulation.store import open_store

    stores = list(stores)
    tot, units, compute, write, unit_days = None, None, 0.0, 0.0, 0
    for p in stores:
        with open_store(p) as ds:
            terms = {t: ds["balance_" + t].values for t in
                     ("P", "AET", "Q", "dS", "exchange", "clamp_water")}
            if units is None:
                units = [str(u) for u in ds["unit"].values]
            compute += float(ds.attrs.get("compute_seconds", 0.0))
            write += float(ds.attrs.get("write_seconds", 0.0))
            unit_days += int(ds.attrs.get("unit_days", 0))
        tot = terms if tot is None else {t: tot[t] + terms[t] for t in tot}
    if tot is None:
        raise DhbvInputError("no chunk stores to summarise; simulate the chunks first")
    t = pd.DataFrame({"unit": units, "P": tot["P"], "AET": tot["AET"], "Q": tot["Q"],
                      "dS": tot["dS"], "exchange": -tot["exchange"],
                      "clamp_water": tot["clamp_water"]})
    t["balance"] = t["P"] - t["AET"] - t["Q"] - t["dS"] - t["exchange"]
    t["closure"] = t["balance"] - t["clamp_water"]
    write_text_atomic(t.to_csv(index=False, float_format="%.10g"), summary_csv)
    rate = unit_days / compute if compute > 0 else float("nan")
    m = t[["P", "AET", "Q", "dS", "exchange", "balance"]].mean()
    echo(f"domain simulation: {len(units)} units, {len(stores)} chunks, "
         f"{unit_days:.3g} unit-days in {compute:.1f} s compute + {write:.1f} s write "
         f"({rate:,.0f} unit-days/s)")
    echo(f"water balance, unit mean over the period (mm): P {m['P']:.1f} − AET {m['AET']:.1f} − "
         f"Q {m['Q']:.1f} − ΔS {m['dS']:.1f} − exchange {m['exchange']:.1f} = {m['balance']:.2f} "
         f"(floor water {t['clamp_water'].mean():.2f}; max |closure| "
         f"{np.abs(t['closure']).max():.2g})")
    return t
