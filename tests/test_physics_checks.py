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


def _kernel_summary(forcing, dyn, n_threads_block=2):
    """Input summary of the fused CPU forward kernel on (forcing, dyn) (blocks of 2 basins)."""
    import numpy as np

    from dhbv.physics import kernels_cpu
    from dhbv.physics.checks import check_summary
    from dhbv.physics.equations import make_constants

    n_t, n_b, _, n_mul = dyn.shape
    f = forcing.numpy()
    d = dyn.permute(0, 1, 3, 2).numpy()
    sta = np.full((n_b, n_mul, 12), 0.5, dtype=np.float32)
    sta[..., 0] = 200.0  # FC (mm)
    s0 = np.full((5, n_b, n_mul), 1.0, dtype=np.float32)
    cst = make_constants(1e-5, n_mul, np.float32, ((1.0, 0.05, 0.3), (5.0, 0.85, 4.7)))
    out = np.empty((5, n_t, n_b), dtype=np.float32)
    store = np.empty((n_t, n_b, n_mul, 5), dtype=np.float32)
    final = np.empty((5, n_b, n_mul), dtype=np.float32)
    chk = np.empty((-(-n_b // n_threads_block), kernels_cpu.N_CHK))
    kernels_cpu.forward_kernel(f[..., 0], f[..., 1], f[..., 2], d, sta, s0, False, cst, out,
                               store, final, n_threads_block, False, chk,
                               d.transpose(0, 1, 3, 2))
    ok, t_mean = kernels_cpu.input_summary(chk)
    return check_summary(ok, t_mean), t_mean


def test_kernel_input_summary_flags_each_bad_value():
    """The fused kernel's summary (which replaces the separate pass over forcing and dyn)
    passes clean inputs with the exact mean temperature and fails every bad value."""
    forcing, dyn = _case()[:2]
    ok, t_mean = _kernel_summary(forcing, dyn)
    assert ok
    assert t_mean == pytest.approx(float(forcing[..., 1].double().mean()), rel=1e-6)
    bad = []
    for index, value in (((3, 2, 0), float("nan")), ((0, 1, 1), float("inf")),
                         ((5, 0, 2), -0.1), ((19, 2, 0), -1e-3)):
        f = forcing.clone()
        f[index] = value
        bad.append((f, dyn))
    f = forcing.clone()
    f[..., 1] += 273.15
    bad.append((f, dyn))
    for index, value in (((7, 1, 0, 1), 1.0001), ((0, 0, 2, 0), -1e-6),
                         ((4, 2, 1, 1), float("nan"))):
        d = dyn.clone()
        d[index] = value
        bad.append((forcing, d))
    for f, d in bad:
        assert not _kernel_summary(f, d)[0]
