"""Multiscale δHBV2.0 training loop (docs/training.md).

One mini-batch = up to ``batch_gauges`` training gauges (capped by ``max_units_per_batch``
distinct upstream units) and one random ``rho``-day target window inside the training period,
preceded by a ``warmup``-day spin-up (shortened at the start of the forcing record, never below
``min_warmup``). Networks + HBV run once per distinct unit; the model's gauge readout turns unit
runoff into gauge streamflow; the loss (RmseComb by default) is computed on gauge streamflow in
mm d-1 with missing observations masked.

Exact resume: every random choice of step (epoch, step) of ensemble member m derives from
(seed, m, epoch, step) — the numpy generator for gauges/window and a torch seed for dropout —
so a run restarted from any checkpoint ends with the same weights as an uninterrupted run on
CPU.
"""
from __future__ import annotations

import copy
import csv
import io
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dhbv.datasets import BasinData, dataset_of, gauge_batch, load_dataset, select_gauges
from dhbv.errors import DhbvInputError
from dhbv.readout import MuskingumCungeReadout, gauge_flow, readout_lead
from dhbv.runner import (Prepared, build_model, check_forcing_gaps, configure_backends,
                         input_statistics, prepare, resolve_device, run_units, run_windows,
                         simulate_gauges)
from dhbv.training.checkpoint import (checkpoint_path, latest_checkpoint, load_checkpoint,
                                      save_atomic, save_checkpoint, set_rng_state)
from dhbv.training.losses import nse_batch_loss, rmse_comb

log = logging.getLogger(__name__)

WINDOW_SAMPLING = ("per_batch", "per_gauge")
LOG_FIELDS = ("member", "epoch", "train_loss", "val_loss", "val_median_nse", "lr", "seconds")


# ----------------------------------------------------------------------------- helpers
def step_seed(seed: int, member: int, epoch: int, step: int) -> int:
    """Deterministic 63-bit seed for one training step."""
    return int(np.random.SeedSequence([int(seed), int(member), int(epoch), int(step)])
               .generate_state(2, np.uint64)[0] >> np.uint64(1))


# ----------------------------------------------------------------------------- sampler
class WindowSampler:
    """Draws (gauges, target start index, warm-up length) from (seed, member, epoch, step).

    ``windows="per_batch"``: one target window for the whole batch (t0 an int).
    ``windows="per_gauge"``: each gauge its own window (t0 an array, one start per gauge), so a
    step's gradient mixes many years; the batch's spin-up is the shortest one available.
    """

    def __init__(self, data: BasinData, gauge_indices, i0: int, i1: int, *, rho: int,
                 warmup: int, min_warmup: int, batch_gauges: int, max_units: int, seed: int,
                 exclude: tuple[int, int] | None = None, iterations: int | str = "auto",
                 windows: str = "per_batch"):
        if windows not in WINDOW_SAMPLING:
            raise DhbvInputError(f"config train.window_sampling {windows!r}: use one of "
                                 f"{', '.join(WINDOW_SAMPLING)}")
        self.windows = windows
        self.data, self.gauges = data, np.asarray(gauge_indices)
        self.rho, self.warmup, self.seed = int(rho), int(warmup), int(seed)
        self.batch, self.max_units = int(batch_gauges), int(max_units)
        cov0, _ = data.forcing_coverage(
            np.unique(np.concatenate([data.membership.pairs[g][0] for g in self.gauges])))
        need = min(self.warmup, int(min_warmup))
        starts = np.arange(i0, i1 - self.rho + 2)
        starts = starts[starts - cov0 >= need]
        if exclude is not None:
            starts = starts[(starts + self.rho - 1 < exclude[0]) | (starts > exclude[1])]
        if starts.size == 0:
            raise DhbvInputError(
                f"no training window fits: rho {rho} d + warm-up ≥ {need} d inside the training "
                "period and forcing record (minus validation); lengthen train.period or reduce rho")
        self.starts, self.cov0 = starts, cov0
        n = len(self.gauges)
        if iterations == "auto" or iterations is None:
            t_train = starts.size + self.rho - 1
            p = min(1.0, min(self.batch, n) * self.rho / (n * t_train))
            self.iterations = 1 if p >= 1 else int(math.ceil(math.log(0.01) / math.log(1 - p)))
        else:
            self.iterations = int(iterations)

    def draw(self, member: int, epoch: int, step: int):
        """Return (gauge indices, t0, warm) for one step."""
        rng = np.random.default_rng([self.seed, member, epoch, step])
        order = rng.permutation(self.gauges)[: self.batch]
        chosen, units = [], set()
        for g in order:
            gu = set(self.data.membership.pairs[g][0].tolist())
            if chosen and len(units | gu) > self.max_units:
                continue
            chosen.append(int(g))
            units |= gu
        if self.windows == "per_gauge":
            t0 = self.starts[rng.integers(self.starts.size, size=len(chosen))]
            warm = min(self.warmup, int(t0.min()) - self.cov0)
            return chosen, t0, warm
        t0 = int(self.starts[rng.integers(self.starts.size)])
        warm = min(self.warmup, t0 - self.cov0)
        return chosen, t0, warm


# ----------------------------------------------------------------------------- training
def _optimizer(params, t):
    if t["optimizer"] == "adadelta":
        return torch.optim.Adadelta(params, lr=t["lr"], weight_decay=t["weight_decay"])
    if t["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=t["lr"], weight_decay=t["weight_decay"])
    return torch.optim.AdamW(params, lr=t["lr"], weight_decay=t["weight_decay"])


def _scheduler(opt, t):
    if t["lr_schedule"] == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=int(t["epochs"]),
                                                          eta_min=float(t["lr_min"]))
    if t["lr_schedule"] == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=int(t["lr_step_epochs"]),
                                               gamma=float(t["lr_gamma"]))
    return None


def _write_log(rows, path):
    from dhbv.io.standard import write_text_atomic

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LOG_FIELDS)
    w.writeheader()
    w.writerows(rows)
    write_text_atomic(buf.getvalue(), path)


def _median_nse(sim, obs):
    from dhbv.evaluation.metrics import nse_matrix

    v = nse_matrix(sim.T, obs.T, allow_nan_sim=False)
    return float(np.nanmedian(v)) if np.isfinite(v).any() else float("nan")


def _loss(pred, obs, t, obs_std=None):
    if t["loss"] == "nse":
        return nse_batch_loss(pred, obs, obs_std)
    return rmse_comb(pred, obs, alpha=float(t["loss_alpha"]), beta=float(t["loss_beta"]))


def _check_readout(mc: dict, t: dict, data: BasinData) -> None:
    """A routing readout (δHBV2.0MC) needs a river network and one window per batch."""
    if mc.get("readout") != MuskingumCungeReadout.name:
        return
    if data.network is None:
        raise DhbvInputError(f"model.readout {MuskingumCungeReadout.name} needs a river network "
                             "over the dataset's units ('network' in a standard source); the "
                             "training dataset is lumped: use model.readout area_weighted")
    if t["window_sampling"] != "per_batch":
        raise DhbvInputError(f"model.readout {MuskingumCungeReadout.name} routes one time window "
                             "per batch; set train.window_sampling: per_batch")


@dataclass
class _Context:
    """Everything one ensemble member's training reads (shared by all members of a run)."""

    cfg: dict
    run_dir: Path
    base_dir: Path
    device: torch.device
    data: BasinData
    prep: Prepared
    gauges: list
    i0: int
    i1: int
    excl: tuple[int, int] | None
    obs_std: torch.Tensor
    sampler_kw: dict
    n_static: int


def _setup(cfg: dict, run_dir: Path, base_dir: Path, *, threads=None,
           compute_stats: bool = True) -> _Context:
    """Threads, device, data, normalisation statistics (computed and saved, or read back)."""
    from dhbv.nn.normalization import load_statistics, save_statistics

    r, t, mc = cfg["run"], cfg["train"], cfg["model"]
    configure_backends(r, threads)
    device = resolve_device(r["device"])
    data = load_dataset(dataset_of(cfg), mc["attributes"], base_dir=base_dir,
                        dynamic_inputs=mc["dynamic_inputs"])
    data = select_gauges(data, t["gauges"], base_dir)
    gauges = list(range(len(data.gauge_ids)))
    i0, i1 = data.check_period(*t["period"], "training")
    excl = None
    if t["validation_period"]:
        v0, v1 = data.check_period(*t["validation_period"], "validation")
        excl = (v0, v1)
    for g in gauges:
        if not np.isfinite(data.obs[i0:i1 + 1, g]).any():
            raise DhbvInputError(f"gauge {data.gauge_ids[g]}: all observations are NaN in the "
                                 "training period; remove it from the training gauges")
    # the days training and validation read: both periods and the spin-up before them
    lo, hi = (i0, i1) if excl is None else (min(i0, excl[0]), max(i1, excl[1]))
    s0 = max(lo - int(mc["warmup"]), data.forcing_coverage()[0])
    gap_days = check_forcing_gaps(data, s0, hi + 1, cfg["data"]["forcing_gaps"], "training",
                                  mc["dynamic_inputs"])
    if gap_days is not None:      # days read from filled forcing count in neither loss nor score
        data.obs[s0:hi + 1][gap_days] = np.nan

    stats_path = run_dir / "normalization_statistics.json"
    if mc.get("statistics"):
        stats = load_statistics(base_dir / mc["statistics"])
    elif compute_stats:
        stats = input_statistics(data, gauges, i0, i1, mc["dynamic_inputs"])
    else:
        stats = load_statistics(stats_path)
    _check_readout(mc, t, data)
    prep = prepare(data, stats, mc["dynamic_inputs"])
    obs_std = torch.tensor(np.nanstd(data.obs[i0:i1 + 1], axis=0), dtype=torch.float32,
                           device=device)
    sampler_kw = dict(rho=t["rho"], warmup=mc["warmup"], min_warmup=t["min_warmup"],
                      batch_gauges=t["batch_gauges"], max_units=t["max_units_per_batch"],
                      exclude=excl, iterations=t["iterations_per_epoch"],
                      windows=t["window_sampling"])
    WindowSampler(data, gauges, i0, i1, seed=int(r["seed"]), **sampler_kw)  # windows fit
    if compute_stats:           # the first output, written once every input is checked
        run_dir.mkdir(parents=True, exist_ok=True)
        save_statistics(stats, stats_path)
    return _Context(cfg, run_dir, base_dir, device, data, prep, gauges, i0, i1, excl, obs_std,
                    sampler_kw, len(data.attribute_names))


def train(config: dict, run_dir, *, model_factory=None, callbacks=(), base_dir=".") -> Path:
    """Train a (multiscale) δHBV2.0 model; returns the path of the final weights ``model.pt``.

    ``config``: training config (see :mod:`dhbv.config`; resolved here). ``run_dir`` receives
    ``config.resolved.yaml``, ``normalization_statistics.json``, ``checkpoints/``,
    ``training_log.csv`` and ``model.pt``. An existing run directory with checkpoints and the
    same config resumes from the latest checkpoint. ``model_factory(model_cfg, n_static)``
    overrides the network/physics model (default :func:`build_model`); ``callbacks`` are called
    as ``cb(member, epoch, step, loss)`` after each optimizer step.

    With ``train.parallel_members`` = N > 1 the ensemble members train in N worker processes
    at once, each with ``run.threads`` // N torch threads (members are independent, so on a
    small CPU this trades the poor multi-thread scaling of the LSTM for process parallelism).
    A member's weights depend only on (seed, member), not on the worker that trained it; on
    CPU the thread count can change float rounding, so compare runs at equal thread counts.
    """
    import yaml

    from dhbv.config import resolve_config, write_resolved_config

    cfg = resolve_config(config, source="training config")
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise DhbvInputError(f"run directory {run_dir} is a file; give a folder path")
    base_dir = Path(base_dir).resolve()
    cfg_path = run_dir / "config.resolved.yaml"
    cfg_to_write = dict(cfg, _base_dir=str(base_dir))
    if cfg_path.exists() and (run_dir / "checkpoints").exists():
        old = yaml.safe_load(cfg_path.read_text())
        old.pop("_base_dir", None)
        if old != yaml.safe_load(yaml.safe_dump(cfg)):
            raise DhbvInputError(f"run directory {run_dir} holds checkpoints of a different config; "
                                 "use a new run directory or delete its checkpoints/")
    t = cfg["train"]
    n_members = int(t["ensemble"])
    workers = min(int(t.get("parallel_members") or 1), n_members)
    if workers > 1 and (model_factory is not None or callbacks):
        raise DhbvInputError("train.parallel_members > 1 runs members in worker processes; "
                             "model_factory and callbacks need parallel_members: 1")
    threads = cfg["run"].get("threads")
    member_threads = max(1, int(threads or torch.get_num_threads()) // workers)
    # every input is read and checked before the run directory gets its first file
    ctx = _setup(cfg, run_dir, base_dir, threads=member_threads if workers > 1 else None)
    write_resolved_config(cfg_to_write, cfg_path)
    factory = model_factory or build_model

    t_start = time.time()
    if workers == 1:
        results, rows_all = [], []
        for member in range(n_members):
            res = _train_member(ctx, member, factory, callbacks, run_dir / "training_log.csv",
                                rows_all)
            results.append(res)
            rows_all += res[1]
    else:
        results = _train_parallel(cfg, run_dir, base_dir, n_members, workers, member_threads)
        rows_all = [row for _, rows in results for row in rows]
        _write_log(rows_all, run_dir / "training_log.csv")
        for m in range(n_members):
            _member_log_path(run_dir, m).unlink(missing_ok=True)
    out = run_dir / "model.pt"
    save_atomic({"members": [m for m, _ in results], "config": cfg,
                 "attribute_names": ctx.data.attribute_names, "n_static": ctx.n_static,
                 "train_gauges": ctx.data.gauge_ids,
                 "train_seconds": time.time() - t_start, "base_dir": str(base_dir)}, out)
    return out


def _member_log_path(run_dir: Path, member: int) -> Path:
    return run_dir / f"training_log.member{member}.csv"


def _member_worker(cfg: dict, run_dir: str, base_dir: str, member: int, threads: int, slot: int):
    """Worker-process entry: rebuild the context (statistics read back) and train one member."""
    logging.basicConfig(level=logging.WARNING)
    ctx = _setup(cfg, Path(run_dir), Path(base_dir), threads=threads, compute_stats=False)
    return _train_member(ctx, member, build_model, (), _member_log_path(Path(run_dir), member),
                         [], bar_position=slot)


def _train_parallel(cfg, run_dir, base_dir, n_members, workers, threads):
    """Members in ``workers`` spawned processes; results in member order."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futs = [pool.submit(_member_worker, cfg, str(run_dir), str(base_dir), m, threads,
                            m % workers) for m in range(n_members)]
        results = []
        for m, f in enumerate(futs):
            results.append(f.result())
            log.info("member %d finished", m)
    return results


def _train_member(ctx: _Context, member: int, factory, callbacks, log_path: Path, rows_before,
                  bar_position=None):
    """Train ensemble member ``member``; returns (member record for model.pt, log rows)."""
    cfg, t, mc, r = ctx.cfg, ctx.cfg["train"], ctx.cfg["model"], ctx.cfg["run"]
    data, prep, gauges, device, excl = ctx.data, ctx.prep, ctx.gauges, ctx.device, ctx.excl
    i0, i1, obs_std = ctx.i0, ctx.i1, ctx.obs_std
    ckpt_dir = ctx.run_dir / "checkpoints"
    seed = int(r["seed"]) + 1000 * member
    sampler = WindowSampler(data, gauges, i0, i1, seed=seed, **ctx.sampler_kw)
    torch.manual_seed(seed)
    model = factory(mc, ctx.n_static).to(device)
    opt = _optimizer(model.parameters(), t)
    sched = _scheduler(opt, t)
    state = {"rows": [], "best": None, "best_epoch": None, "best_score": -np.inf,
             "bad_epochs": 0, "running": [0.0, 0], "done": False}
    epoch, step = 0, 0
    ck = latest_checkpoint(ckpt_dir, member)
    if ck is not None:
        c = load_checkpoint(ck, map_location=device)
        model.load_state_dict(c["model"])
        opt.load_state_dict(c["optimizer"])
        if sched is not None and c["scheduler"] is not None:
            sched.load_state_dict(c["scheduler"])
        set_rng_state(c["rng"])
        epoch, step, state = c["epoch"], c["step"], c["state"]
        log.info("member %d: resumed from %s (epoch %d, step %d)", member, ck.name, epoch, step)
    n_it, n_ep = sampler.iterations, int(t["epochs"])
    # spin-up days before the last warmup_grad ones run without gradients (truncated BPTT)
    warm_grad = int(mc["warmup"]) if t["warmup_grad"] is None else int(t["warmup_grad"])
    bar = None
    if t["progress"]:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_it * n_ep, initial=min(epoch * n_it + step, n_it * n_ep),
                   desc=f"train m{member}", unit="step", dynamic_ncols=True,
                   position=bar_position, leave=bar_position is None)
    m_t0 = time.time() - state.get("elapsed", 0.0)
    while epoch < n_ep and not state["done"]:
        ep_t0 = time.time()
        model.train()
        while step < n_it:
            chosen, t0, warm = sampler.draw(member, epoch, step)
            nograd = max(warm - warm_grad, 0)
            torch.manual_seed(step_seed(seed, member, epoch, step))
            lead = 0
            if np.ndim(t0) == 0:
                batch = gauge_batch(data, chosen, device=device)
                lead = readout_lead(model, warm)     # a routing readout's spin-up days
                q_unit = run_units(model, prep, batch.units, t0 - warm, t0 + sampler.rho,
                                   warm - lead, device, nograd)
                y = data.obs[t0:t0 + sampler.rho][:, chosen]
            else:
                batch = gauge_batch(data, chosen, t0, device=device)
                q_unit = run_windows(model, prep, batch.units, batch.starts - warm,
                                     sampler.rho + warm, warm, device, nograd)
                tidx = t0[None, :] + np.arange(sampler.rho)[:, None]
                y = data.obs[tidx, np.asarray(chosen)[None, :]]
            q_g = gauge_flow(model, q_unit, batch, prep.static_norm, lead)
            y = torch.from_numpy(np.ascontiguousarray(y)).to(device)
            if not bool(torch.isfinite(y).any()):
                step += 1
                continue
            loss = _loss(q_g, y, t, obs_std[chosen])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if t["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(model.parameters(), float(t["grad_clip"]))
            opt.step()
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise FloatingPointError(f"training loss became {lv} at epoch {epoch} step {step}; "
                                         "lower train.lr or set train.grad_clip")
            state["running"][0] += lv
            state["running"][1] += 1
            step += 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{lv:.4f}")
            for cb in callbacks:
                cb(member, epoch, step, lv)
            cse = t.get("checkpoint_every_steps")
            if cse and step % int(cse) == 0 and step < n_it:
                save_checkpoint(checkpoint_path(ckpt_dir, member, epoch, step), model=model,
                                optimizer=opt, scheduler=sched, member=member, epoch=epoch,
                                step=step, state=state)
        # ---- end of epoch
        train_loss = state["running"][0] / max(state["running"][1], 1)
        state["running"] = [0.0, 0]
        lr = opt.param_groups[0]["lr"]
        if sched is not None:
            sched.step()
        val_loss = val_nse = float("nan")
        if excl is not None and ((epoch + 1) % int(t["validate_every"]) == 0 or epoch + 1 == n_ep):
            s_v = excl[0] - min(int(mc["warmup"]), excl[0] - sampler.cov0)
            sim = simulate_gauges(model, prep, data, gauges, s_v, excl[1] + 1, excl[0] - s_v,
                                  device, int(cfg["simulate"]["batch_gauges"]),
                                  int(t["max_units_per_batch"]))
            ob = data.obs[excl[0]:excl[1] + 1][:, gauges]
            with torch.no_grad():
                val_loss = float(_loss(torch.from_numpy(sim), torch.from_numpy(ob), t,
                                       obs_std.cpu()))
            val_nse = _median_nse(sim, ob)
            if val_nse > state["best_score"]:
                state.update(best=copy.deepcopy({k: v.cpu() for k, v in model.state_dict().items()}),
                             best_epoch=epoch + 1, best_score=val_nse, bad_epochs=0)
            else:
                state["bad_epochs"] += 1
            pat = t["early_stopping_patience"]
            if pat and state["bad_epochs"] >= int(pat):
                state["done"] = True
        state["rows"].append(dict(member=member, epoch=epoch + 1, train_loss=round(train_loss, 6),
                                  val_loss=round(val_loss, 6), val_median_nse=round(val_nse, 6),
                                  lr=lr, seconds=round(time.time() - ep_t0, 2)))
        _write_log(list(rows_before) + state["rows"], log_path)
        log.info("member %d epoch %d: train loss %.4f, val loss %.4f, val median NSE %.3f",
                 member, epoch + 1, train_loss, val_loss, val_nse)
        epoch, step = epoch + 1, 0
        state["elapsed"] = time.time() - m_t0
        if t["max_minutes"] and state["elapsed"] > 60.0 * float(t["max_minutes"]):
            log.info("member %d: time budget of %s min reached after epoch %d", member,
                     t["max_minutes"], epoch)
            state["done"] = True
        if epoch % int(t["checkpoint_every"]) == 0 or epoch == n_ep or state["done"]:
            save_checkpoint(checkpoint_path(ckpt_dir, member, epoch, 0), model=model,
                            optimizer=opt, scheduler=sched, member=member, epoch=epoch,
                            step=0, state=state)
    if bar is not None:
        bar.close()
    final = state["best"] if state["best"] is not None else \
        {k: v.cpu() for k, v in model.state_dict().items()}
    record = {"weights": final, "best_epoch": state["best_epoch"],
              "best_val_median_nse": state["best_score"] if state["best"] is not None else None}
    return record, state["rows"]


def train_model(forms: dict, run_dir, *, run: dict, model: dict, train_cfg: dict, knobs: dict,
                evaluation_period=None, forcing_gaps: str = "error") -> Path:
    """Rule ``train_model``: train on one dataset in the standard forms.

    ``forms``: the dataset's files {forcing, attributes, observations, membership}.
    ``run``/``model``/``train_cfg``: the configuration sections the rule takes as params (no
    knobs); ``knobs``: the knob values by section (:func:`dhbv.config.knobs_of`), which change
    speed, not results; ``evaluation_period``: recorded and checked against the training
    period; ``forcing_gaps``: ``data.forcing_gaps``.
    """
    from dhbv.io.standard import standard_source

    name = train_cfg["dataset"]
    cfg = {"run": {**run, **knobs.get("run", {})}, "data": {"forcing_gaps": forcing_gaps},
           "datasets": {name: {"sources": [standard_source(**forms)]}},
           "model": model, "train": {**train_cfg, **knobs.get("train", {})},
           "simulate": dict(knobs.get("simulate", {})),
           "evaluation": {"period": evaluation_period}}
    return train(cfg, run_dir)
