"""End-of-chunk model state files of a domain simulation.

A state file holds, for every ensemble member, the :class:`dhbv.model.ModelState` of all units
of a domain at the end of a chunk: LSTM hidden and cell state ([1, U, H]), the five HBV stores
per component ([5, U, nmul], mm), the unit-hydrograph history ([L − 1, U, 3], mm/d) and the
MLP output ([U, 13·nmul + 2], constant in time: later chunks skip the MLP); for a routed
δHBV2.0MC domain simulation (:mod:`.routed`) also the routing state of the whole network per
member (discharge of every reach, the unfinished daily mean, the last lateral inflow of the
gauge reaches) with the network id. It also
records the run it came from (:func:`run_id`), the first day it feeds (``valid_at``: the day
after the chunk) and the unit ids, so that a state from another model, another period or
another set of units is refused with a one-line error. Written atomically (temp file + rename).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import torch

from dhbv.errors import DhbvInputError
from dhbv.io.atomic import atomic_path

FORMAT = "dhbv-domain-state/1"


def run_id(run_dir) -> str:
    """Identity of a trained run: the first 16 hex digits of the SHA-256 of its ``model.pt``."""
    p = Path(run_dir) / "model.pt"
    if not p.exists():
        raise DhbvInputError(f"{p} not found; train the model first (dhbv train)")
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def save_state(path, states, *, run: str, valid_at, unit_ids, routing: dict | None = None
               ) -> Path:
    """Write the member states ``states`` (list of ModelState over all units) atomically;
    ``routing``: the routing state (:meth:`dhbv.simulation.routed.DomainRouter.route`), absent
    from the file when None (UH-only runs)."""
    blob = {"format": FORMAT, "run_id": run, "valid_at": str(pd.Timestamp(valid_at).date()),
            "unit_ids": [str(u) for u in unit_ids],
            "members": [{"h": s.lstm[0].contiguous(), "c": s.lstm[1].contiguous(),
                         "hbv": s.hbv.contiguous(), "uh": s.uh_history.contiguous(),
                         "mlp": None if s.mlp_out is None else s.mlp_out.contiguous()}
                        for s in states]}
    if routing is not None:
        blob["routing"] = routing
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return path


def load_state(path, *, run: str, valid_at, unit_ids, members: int, routing: dict | None = None):
    """Member states from ``path``, checked against the run, the day and the units expected.

    ``routing``: for a routed run, what its routing state must match (``network_id``, ``dt``,
    ``day_offset_hours``, ``gauges``); then (member states, routing state) is returned."""
    from dhbv.model import ModelState

    path = Path(path)
    if not path.exists():
        raise DhbvInputError(f"state file {path} not found; simulate the previous chunk first")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - any unreadable file is one and the same user error
        blob = None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise DhbvInputError(f"state file {path} is not a domain-simulation state file")
    want = str(pd.Timestamp(valid_at).date())
    if blob["run_id"] != run:
        raise DhbvInputError(f"state file {path} was written by run {blob['run_id']}, not by "
                             f"this run {run}; simulate its chunks again with this run")
    if blob["valid_at"] != want:
        raise DhbvInputError(f"state file {path} is the state on {blob['valid_at']}, but the chunk "
                             f"starts on {want}; use the previous chunk's state")
    ids = [str(u) for u in unit_ids]
    if blob["unit_ids"] != ids:
        raise DhbvInputError(f"state file {path} holds {len(blob['unit_ids'])} other units than "
                             f"the {len(ids)} units simulated; use the state of this domain")
    if len(blob["members"]) != members:
        raise DhbvInputError(f"state file {path} has {len(blob['members'])} ensemble members, the "
                             f"run has {members}")
    states = [ModelState((m["h"], m["c"]), m["hbv"], m["uh"], m.get("mlp"))
              for m in blob["members"]]
    if routing is None:
        return states
    return states, _check_routing(path, blob.get("routing"), routing)


def _check_routing(path, r, want: dict) -> dict:
    """The routing state ``r`` of state file ``path``, checked against ``want``."""
    if not isinstance(r, dict):
        raise DhbvInputError(f"state file {path} holds no routing state (written without a river "
                             "network); simulate the chunks again from the first with the network")
    if r.get("network_id") != want["network_id"]:
        raise DhbvInputError(f"state file {path} routes network {r.get('network_id')}, not this "
                             f"network {want['network_id']}; simulate this network's chunks again "
                             "from the first")
    if (r.get("dt"), r.get("day_offset_hours")) != (want["dt"], want["day_offset_hours"]):
        raise DhbvInputError(f"state file {path} was routed with step {r.get('dt')} s and day "
                             f"offset {r.get('day_offset_hours')} h, this run {want['dt']} s and "
                             f"{want['day_offset_hours']} h; simulate the chunks again")
    if r.get("gauges") != list(want["gauges"]):
        raise DhbvInputError(f"state file {path} carries {len(r.get('gauges') or [])} gauges, "
                             f"this run reads {len(want['gauges'])} other ones; simulate the "
                             "chunks again with the same gauges")
    return r


def select_units(state, units):
    """The state of the units (batch columns) ``units`` (index array)."""
    from dhbv.model import ModelState

    u = torch.as_tensor(units, dtype=torch.long)
    return ModelState((state.lstm[0][:, u], state.lstm[1][:, u]), state.hbv[:, u],
                      state.uh_history[:, u], None if state.mlp_out is None else state.mlp_out[u])


def concat_units(states):
    """One state from states over consecutive unit batches (concatenated along units)."""
    from dhbv.model import ModelState

    return ModelState((torch.cat([s.lstm[0] for s in states], 1),
                       torch.cat([s.lstm[1] for s in states], 1)),
                      torch.cat([s.hbv for s in states], 1),
                      torch.cat([s.uh_history for s in states], 1),
                      None if any(s.mlp_out is None for s in states)
                      else torch.cat([s.mlp_out for s in states], 0))
