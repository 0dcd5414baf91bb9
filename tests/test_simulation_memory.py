"""Peak memory of the domain simulation does not grow with the period or the number of units.

Each case runs in a fresh process (``benchmarks/simulate_speed.py --memory-case``: a synthetic
MERIT-like domain, the default architecture with random weights, yearly chunks written to
zarr, batches of 50 units, no routing) and reports its peak resident memory. The issue's
criterion: 8× the years and 10× the units stay within 10 % of one year of the small domain
(measured here: +0.3 % and +2.8 %).
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "simulate_speed.py"


def _peak_mib(units: int, years: int) -> dict:
    res = subprocess.run([sys.executable, str(BENCH), "--memory-case",
                          json.dumps([units, years, 50, False])],
                         capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def peaks():
    return {case: _peak_mib(*case) for case in ((200, 1), (200, 8), (2000, 1))}


def test_peak_memory_is_flat_in_years_and_units(peaks):
    ref = peaks[(200, 1)]["peak_mib"]
    assert ref > peaks[(200, 1)]["base_mib"] + 20          # the simulation itself was measured
    assert peaks[(200, 8)]["peak_mib"] <= 1.10 * ref, peaks
    assert peaks[(2000, 1)]["peak_mib"] <= 1.10 * ref, peaks
