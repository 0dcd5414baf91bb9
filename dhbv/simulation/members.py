"""One ensemble member of a trained run simulated alone (a model of the comparison)."""
from __future__ import annotations

from pathlib import Path


def simulate_member(run_dir, forms: dict, streamflow_out, *, member: int, period, spinup,
                    device="auto") -> Path:
    """Rule ``simulate_member``: member ``member`` (0-based) of the run in ``run_dir`` on one
    dataset in the standard ``forms`` ({forcing, attributes, observations, membership}) →
    gauge flows [mm d-1] in the format of the ensemble's simulation."""
    from dhbv.io.standard import standard_source
    from dhbv.simulation import simulate

    dataset = {"sources": [standard_source(**forms)]}
    return simulate(run_dir, dataset, streamflow_out, period, device=device, spinup=spinup,
                    member=int(member))
