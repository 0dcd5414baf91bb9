"""Command-line interface: ``dhbv train | simulate | parameters | evaluate | prepare``.

* ``dhbv train --config X.yaml --run-dir D`` — train (resumes from D's checkpoints).
* ``dhbv simulate --run-dir D [--config X.yaml [--dataset NAME]] --out F.nc
  [--period START END] [--obs-out O.nc] [--scores S.csv]`` — run a trained model on a dataset
  of X (default: the run's training dataset) and write gauge flows (mm d-1) and optionally
  scores.
* ``dhbv parameters --run-dir D [--config X.yaml [--dataset NAME]] [--period START END]
  [--out P.csv]`` — how much of each HBV parameter's range the trained run uses.
* ``dhbv evaluate --obs O.nc --sim [NAME=]F.nc [--sim NAME2=F2.nc ...] --out T.csv
  [--summary S.csv] [--obs-units U] [--gauges G ...] [--period START END] [--min-days N]
  [--max-missing F] [--allow-nan-sim NAME] [--clip-negative-sim NAME]`` — every metric of
  every model on the same gauges and days, one row per gauge and model
  (docs/evaluation.md §5).
* ``dhbv prepare --config X.yaml [--dataset NAME] --out-dir DIR`` — write the standard forms
  (unit forcing, unit attributes, gauge observations, membership) of one of X's datasets.
* ``dhbv route --run-dir D --lateral F.nc --period START END --out Q.nc [--network N
  --attributes A]`` — route a daily lateral-inflow file (m³/s per reach) with a trained
  routing model (``train_routing``) and write the daily discharge of every reach
  (docs/routing.md §10); another network needs its attributes. With ``--out-dir DIR
  [--chunk-years N] [--gauge-table G --gauges ID ...]`` instead of ``--out``: the period
  (default: the whole file) in time chunks, each continuing from the previous chunk's end
  state, into CF zarr stores DIR/chunks/<chunk>.zarr of every reach (and gauge), the states
  DIR/states/<chunk>.pt and DIR/summary.csv; a rerun resumes at the first missing chunk
  (docs/routing.md §11).
* ``dhbv scaling-curve (--scores N=S.csv ... | --table T.csv) --out F.png [--table-out T.csv]``
  — data-scaling curve: median and quartiles of the test NSE of the same gauges for runs
  trained on N gauges.

X.yaml is the same configuration the workflow reads (dhbv/schemas/config.schema.yaml).

Input errors (:class:`dhbv.errors.DhbvInputError`) are printed as one line; exit status 2.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from dhbv.errors import DhbvInputError


def _spinup(text: str):
    from dhbv.config import parse_spinup

    try:
        return parse_spinup(text, "--spinup")
    except DhbvInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _dataset(config_path, name):
    """The dataset ``name`` of a configuration file, validated like the workflow's (None
    without a file: the run's own training data)."""
    if not config_path:
        return None
    from dhbv.config import load_config, resolve_config
    from dhbv.datasets import dataset_of

    return dataset_of(resolve_config(load_config(config_path), source=config_path), name)


def _period(values, option: str = "--period"):
    from dhbv.config import parse_period

    return parse_period(values, option)


class _Parser(argparse.ArgumentParser):
    """Option errors as one line (``dhbv <command>: error: ...``, exit status 2), like input
    errors; ``--help`` shows the usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dhbv", description="δHBV2.0 training, simulation, evaluation")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model")
    t.add_argument("--config", required=True, help="configuration YAML (train.dataset names the data)")
    t.add_argument("--run-dir", required=True, help="run directory (created; resumed if present)")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    s = sub.add_parser("simulate", help="simulate gauges with a trained model")
    s.add_argument("--run-dir", required=True)
    s.add_argument("--config", default=None,
                   help="configuration YAML holding the dataset (default: the run's training data)")
    s.add_argument("--dataset", default=None,
                   help="name of the dataset in --config (default: train.dataset, else its only one)")
    s.add_argument("--out", required=True, help="output NetCDF (time, gauge)")
    s.add_argument("--period", nargs=2, metavar=("START", "END"), default=None)
    s.add_argument("--obs-out", default=None, help="also write observations (standard form)")
    s.add_argument("--scores", default=None, help="also write per-gauge NSE/KGE CSV")
    s.add_argument("--spinup", type=_spinup, default=None,
                   help="spin-up days before the period, or 'full' (from the first forcing day); "
                        "default: the run's simulate.spinup, else model.warmup")
    s.add_argument("--member", type=int, default=None,
                   help="simulate this ensemble member alone (0-based), not the ensemble mean")
    q = sub.add_parser("parameters", help="share of each learned HBV parameter at its range ends")
    q.add_argument("--run-dir", required=True)
    q.add_argument("--config", default=None, help="configuration YAML holding the dataset")
    q.add_argument("--dataset", default=None)
    q.add_argument("--period", nargs=2, metavar=("START", "END"), default=None)
    q.add_argument("--out", default=None, help="also write the table (CSV)")
    e = sub.add_parser("evaluate", help="score simulations against observations")
    e.add_argument("--obs", required=True,
                   help="observations NetCDF (standard gauge form, or a simulation file's 'observed')")
    e.add_argument("--sim", required=True, action="append", metavar="[NAME=]FILE",
                   help="a model's simulation NetCDF (repeat for several models; NAME defaults to "
                        "the file's stem)")
    e.add_argument("--out", required=True, help="per-gauge metrics table (CSV)")
    e.add_argument("--summary", default=None, help="also write medians per model (CSV)")
    e.add_argument("--obs-units", default=None, choices=["mm d-1", "m3 s-1"],
                   help="units of the observations (must agree with the file's units attribute)")
    e.add_argument("--gauges", nargs="+", default=None, help="gauges to score (default: all observed)")
    e.add_argument("--period", nargs=2, metavar=("START", "END"), default=None)
    e.add_argument("--min-days", type=int, default=365)
    e.add_argument("--max-missing", type=float, default=0.3,
                   help="exclude gauges with more missing observation days than this fraction")
    e.add_argument("--allow-nan-sim", action="append", default=[], metavar="NAME",
                   help="leave out the days on which this model's simulation is NaN")
    e.add_argument("--clip-negative-sim", action="append", default=[], metavar="NAME",
                   help="set this model's negative flows to 0")
    r = sub.add_parser("prepare", help="write standard forms from raw sources")
    r.add_argument("--config", required=True)
    r.add_argument("--dataset", default=None, help="dataset name (default: train.dataset)")
    r.add_argument("--out-dir", required=True)
    d = sub.add_parser("simulate-domain",
                       help="simulate every unit of a domain in time chunks (resumes a killed run)")
    d.add_argument("--run-dir", required=True)
    d.add_argument("--forcing", required=True, help="unit-forcing NetCDF (standard form)")
    d.add_argument("--attributes", required=True, help="unit-attributes NetCDF (standard form)")
    d.add_argument("--out-dir", required=True,
                   help="gets chunks/<chunk>.zarr, states/<chunk>.pt, summary.csv; resumed if present")
    d.add_argument("--period", nargs=2, metavar=("START", "END"), required=True,
                   help="a whole number of years, e.g. 1981-01-01 2005-12-31")
    d.add_argument("--chunk-years", type=int, default=1, help="years per chunk (divides the period)")
    d.add_argument("--variables", nargs="+", default=None,
                   help="outputs (default: runoff, its components, aet, swe, soil_moisture, ...)")
    d.add_argument("--spinup", type=_spinup, default=None,
                   help="spin-up before the first chunk (default: the run's simulate.spinup)")
    d.add_argument("--memory-mb", type=float, default=2000, help="memory budget of a unit batch")
    d.add_argument("--batch-units", type=int, default=None, help="at most this many units per batch")
    d.add_argument("--device", default="auto")
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.add_argument("--network", default=None,
                   help="river network (topology stage network.nc) whose reaches are the units: "
                        "a run with the muskingum_cunge readout also routes the runoff through it "
                        "(streamflow in each chunk store's group 'routed')")
    d.add_argument("--gauge-table", default=None,
                   help="gauge table (STAID, COMID, FLOW_SCALE, ...) of --gauges (with --network)")
    d.add_argument("--gauges", nargs="+", default=(),
                   help="gauge ids whose streamflow is also written (with --network)")
    o = sub.add_parser("route", help="route lateral inflow with a trained routing model")
    o.add_argument("--run-dir", required=True, help="routing run directory (train_routing)")
    o.add_argument("--lateral", required=True,
                   help="daily lateral inflow NetCDF (m3 s-1 over reach id and time)")
    o.add_argument("--period", nargs=2, metavar=("START", "END"), default=None,
                   help="days written (the next day's record is needed for the last one); "
                        "with --out-dir the records routed (default: the whole file)")
    dest = o.add_mutually_exclusive_group(required=True)
    dest.add_argument("--out", help="output NetCDF: discharge (time, reach), m3 s-1")
    dest.add_argument("--out-dir", help="route in time chunks with the state carried: CF zarr "
                                        "stores, end states and summary.csv under this folder")
    o.add_argument("--chunk-years", type=int, default=1, help="years per chunk (--out-dir)")
    o.add_argument("--memory-mb", type=float, default=2000,
                   help="memory of one routed piece of a chunk, MiB (--out-dir; the chunk is "
                        "routed in pieces with the state carried: same values)")
    o.add_argument("--gauge-table", default=None,
                   help="gauge table (STAID, COMID, FLOW_SCALE, ...) of --gauges (--out-dir)")
    o.add_argument("--gauges", nargs="+", default=(), help="gauges also written (--out-dir)")
    o.add_argument("--quiet", action="store_true", help="no progress bar (--out-dir)")
    o.add_argument("--network", default=None,
                   help="another network (dhbv NetCDF or DDR zarr; default: the run's own)")
    o.add_argument("--attributes", default=None,
                   help="reach attributes of --network (normalised with the run's statistics)")
    c = sub.add_parser("scaling-curve",
                       help="median test NSE of the same gauges against the number of training gauges")
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--scores", action="append", metavar="N=FILE",
                     help="per-gauge scores (CSV) of the run trained on N gauges (repeat per run)")
    src.add_argument("--table", help="a table written before with --table-out (CSV)")
    c.add_argument("--out", required=True, help="figure (PNG)")
    c.add_argument("--table-out", default=None, help="also write the table (CSV)")
    c.add_argument("--title", default=None)
    return p


def _scaling_curve(args) -> None:
    import pandas as pd

    from dhbv.io.atomic import check_output_path
    from dhbv.io.standard import write_text_atomic
    from dhbv.plots.scaling import plot_scaling_curve, read_scaling_table, scaling_table

    check_output_path(args.out, "--out")
    if args.table_out:
        check_output_path(args.table_out, "--table-out")
    if args.table:
        if not Path(args.table).is_file():
            raise DhbvInputError(f"--table {args.table}: no such file")
        table = read_scaling_table(args.table)
    else:
        scores = {}
        for item in args.scores:
            n, sep, path = item.partition("=")
            if not sep or not n.strip().isdigit() or int(n) < 1:
                raise DhbvInputError(f"--scores {item!r}: expected N=FILE with N the number of "
                                     "training gauges")
            if int(n) in scores:
                raise DhbvInputError(f"--scores: {n} training gauges given twice")
            if not Path(path).is_file():
                raise DhbvInputError(f"--scores {item}: no such file {path}")
            scores[int(n)] = pd.read_csv(path, dtype={"gauge": str})
        table = scaling_table(scores)
    if args.table_out:
        write_text_atomic(table.to_csv(index=False, float_format="%.4f"), args.table_out)
    plot_scaling_curve(table, args.out, title=args.title)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def main(argv=None) -> int:
    """Entry point of the ``dhbv`` console script."""
    args = _parser().parse_args(argv)
    # idle OpenMP workers (torch and numba each bring a runtime) should sleep, not spin: spinning
    # workers stall the sequential LSTM on small or shared CPUs. Must be set before torch loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        if args.command == "train":
            from dhbv.config import load_config
            from dhbv.training import train

            cfg = load_config(args.config)
            if args.quiet:
                cfg.setdefault("train", {})["progress"] = False
            print(train(cfg, Path(args.run_dir)))
        elif args.command == "simulate":
            from dhbv.simulation import simulate

            print(simulate(args.run_dir, _dataset(args.config, args.dataset), args.out,
                           _period(args.period),
                           obs_out=args.obs_out, scores_out=args.scores, spinup=args.spinup,
                           member=args.member))
            if args.scores:
                import pandas as pd

                from dhbv.evaluation import summarize

                print(summarize(pd.read_csv(args.scores)))
        elif args.command == "parameters":
            from dhbv.io.atomic import check_output_path
            from dhbv.io.standard import write_text_atomic
            from dhbv.parameters import range_use

            if args.out:
                check_output_path(args.out, "--out")
            table = range_use(args.run_dir, _dataset(args.config, args.dataset),
                              _period(args.period))
            if args.out:
                write_text_atomic(table.to_csv(index=False), args.out)
            print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        elif args.command == "evaluate":
            from dhbv.evaluation.comparison import model_summary
            from dhbv.evaluation.files import evaluate_files, model_files

            table = evaluate_files(args.obs, model_files(args.sim), args.out,
                                   obs_units=args.obs_units, gauges=args.gauges,
                                   period=_period(args.period), min_days=args.min_days,
                                   max_missing_fraction=args.max_missing,
                                   allow_nan=args.allow_nan_sim,
                                   clip_negative=args.clip_negative_sim,
                                   out_summary=args.summary)
            print(model_summary(table).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        elif args.command == "route" and args.out_dir:
            from dhbv.routing.chunks import route_domain

            if args.gauges and not args.gauge_table:
                raise DhbvInputError("--gauges needs --gauge-table (STAID, COMID, FLOW_SCALE)")
            route_domain(args.run_dir, args.lateral, args.out_dir, period=args.period,
                         chunk_years=args.chunk_years, gauge_table=args.gauge_table,
                         gauges=args.gauges, network=args.network, attributes=args.attributes,
                         progress=not args.quiet, memory_mb=args.memory_mb)
        elif args.command == "route":
            from dhbv.routing.training import route_lateral_file

            if args.period is None:
                raise DhbvInputError("--period START END is required with --out")
            print(route_lateral_file(args.run_dir, args.lateral, args.out, args.period,
                                     network=args.network, attributes=args.attributes))
        elif args.command == "scaling-curve":
            _scaling_curve(args)
        elif args.command == "prepare":
            from dhbv.config import load_config, resolve_config
            from dhbv.datasets import dataset_of, load_dataset, write_standard

            cfg = resolve_config(load_config(args.config), source=args.config)
            mc = cfg["model"]
            data = load_dataset(dataset_of(cfg, args.dataset), mc["attributes"],
                                dynamic_inputs=mc["dynamic_inputs"])
            for k, v in write_standard(data, args.out_dir).items():
                print(f"{k}: {v}")
        elif args.command == "simulate-domain":
            from dhbv.simulation.domain import simulate_domain

            simulate_domain(args.run_dir, {"forcing": args.forcing, "attributes": args.attributes},
                            args.out_dir, period=args.period, chunk_years=args.chunk_years,
                            spinup=args.spinup, variables=args.variables,
                            memory_mb=args.memory_mb, batch_units=args.batch_units,
                            device=args.device, progress=not args.quiet, network=args.network,
                            gauge_table=args.gauge_table, gauges=args.gauges)
    except DhbvInputError as err:
        print(f"dhbv {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:     # unreadable or unwritable paths: permissions, full disk, ...
        where = f" {err.filename}" if err.filename else ""
        print(f"dhbv {args.command}: error:{where}: {err.strerror or err}; check the path and its "
              "permissions", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
