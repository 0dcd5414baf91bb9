"""One-line input errors of run_hbv2."""

import pytest
import torch

from dhbv.errors import DhbvInputError
from dhbv.physics import HbvOptions, run_hbv2
from dhbv.physics.synthetic import synthetic_case


def _case():
    return list(synthetic_case(20, 3, 2, seed=0))


def _expect(case, match, **kw):
    with pytest.raises(DhbvInputError, match=match) as err:
        run_hbv2(*case, **kw)
    assert "\n" not in str(err.value)


def test_shape_mismatches():
    c = _case()
    c[1] = c[1][:10]
    _expect(c, "dyn")
    c = _case()
    c[2] = c[2][:, :12]
    _expect(c, "static")
    c = _case()
    c[3] = c[3][:2]
    _expect(c, "uh_params")
    c = _case()
    c[4] = c[4][:2]
    _expect(c, "uparea")
    c = _case()
    c[0] = c[0][..., :2]
    _expect(c, "forcing")


def test_nan_and_inf_forcing():
    c = _case()
    c[0] = c[0].clone()
    c[0][3, 1, 0] = float("nan")
    _expect(c, r"forcing\[P\].*NaN")
    c = _case()
    c[0] = c[0].clone()
    c[0][3, 1, 2] = float("inf")
    _expect(c, r"forcing\[PET\]")


def test_negative_precipitation():
    c = _case()
    c[0] = c[0].clone()
    c[0][0, 0, 0] = -1.0
    _expect(c, "negative precipitation")


def test_kelvin_temperature():
    c = _case()
    c[0] = c[0].clone()
    c[0][..., 1] += 273.15
    _expect(c, "kelvin")


def test_parameters_outside_unit_interval():
    c = _case()
    c[2] = c[2] * 300.0
    _expect(c, r"static.*\[0, 1\]")
    c = _case()
    c[1] = c[1] - 0.5
    _expect(c, r"dyn.*\[0, 1\]")


def test_bad_warmup_and_states_and_options():
    _expect(_case(), "warmup", warmup=20)
    _expect(_case(), "initial_states", initial_states=torch.zeros(5, 3, 3))
    _expect(_case(), "initial_uh_history", initial_uh_history=torch.zeros(3, 3, 3))
    with pytest.raises(DhbvInputError, match="exchange"):
        HbvOptions(exchange="none")
