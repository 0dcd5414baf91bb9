"""Vectorised float32 power (``fastpow.fpow``) and the vectorised HBV forward kernel: the power
against float64 exact values and libm's powf, the kernel's forward without gradients against
the one with gradients (same arithmetic, bit-identical) and both against the float64
reference, and the chunk scratch's padding and the nmul > 64 fallback."""

import numpy as np
import pytest
import torch
from numba import njit

from dhbv.physics import HbvOptions, run_hbv2
from dhbv.physics.fastpow import fpow
from dhbv.physics.synthetic import synthetic_case


@njit(error_model="numpy")
def _pow_all(x, b, out):
    for i in range(x.size):
        out[i] = fpow(x[i], b[i])


def test_fpow_float32_within_one_ulp_of_the_exact_power():
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 1.5, 200_000).astype(np.float32)
    x[:2000] = np.exp(rng.uniform(-60, 0, 2000)).astype(np.float32)  # tiny bases
    b = rng.uniform(0.3, 6.0, 200_000).astype(np.float32)
    out = np.empty_like(x)
    _pow_all(x, b, out)
    exact = x.astype(np.float64) ** b.astype(np.float64)
    rounded = exact.astype(np.float32)
    normal = rounded > np.finfo(np.float32).tiny
    ulps = np.abs(out[normal].astype(np.float64) - exact[normal]) / np.spacing(rounded[normal])
    assert ulps.max() < 1.0
    # correctly rounded nearly everywhere (libm's powf misses about 1 in 1600 here)
    assert np.mean(out != rounded) < 0.02



def test_ln_mantissa_polynomial_within_its_stated_error():
    """The degree-10 polynomial of ``fpow``'s logarithm: ln m within 2.6e-10 of numpy's log on
    the folded mantissa range [√½, √2] (the bound the module doc states), exact at m = 1."""
    from dhbv.physics.fastpow import _ln_mantissa

    @njit(error_model="numpy")
    def ln_all(m, out):
        for i in range(m.size):
            out[i] = _ln_mantissa(m[i])

    m = np.linspace(np.sqrt(0.5), np.sqrt(2.0), 400_001)
    out = np.empty_like(m)
    ln_all(m, out)
    assert np.abs(out - np.log(m)).max() < 2.6e-10
    ln_all(np.array([1.0]), out[:1])
    assert out[0] == 0.0

def test_fpow_special_values_and_float64():
    x = np.array([0.0, 0.0, 1.0, np.inf, np.nan, 2.0, -0.0, 3.0], np.float32)
    b = np.array([2.0, 0.0, 3.3, 2.0, 2.0, np.nan, 2.0, 0.5], np.float32)
    out = np.empty_like(x)
    _pow_all(x, b, out)
    np.testing.assert_array_equal(out[[0, 1, 2, 3, 6]], [0.0, 1.0, 1.0, np.inf, 0.0])
    assert np.isnan(out[4]) and np.isnan(out[5])
    assert out[7] == np.float32(np.sqrt(3.0))
    x64 = np.array([0.3, 2.5]); b64 = np.array([1.7, 0.4]); o64 = np.empty(2)
    _pow_all(x64, b64, o64)  # float64 stays x ** b
    np.testing.assert_array_equal(o64, x64 ** b64)


@pytest.mark.parametrize("nmul", [3, 4, 70])
def test_forward_without_gradients_equals_forward_with_them(nmul):
    """The forward without gradients (no state store) gives exactly the values of the one
    that stores the states for the adjoint, for chunks with padding (nmul 3: 21 basins in 63
    of 64 cells) and for nmul > 64 (the phased fallback); float32 stays within 1e-5 of
    float64."""
    n_b = 45
    f, d, s, r, u, e = synthetic_case(400, n_b, nmul, seed=5)
    opts = HbvOptions(backend="fused")
    with torch.no_grad():
        free = run_hbv2(f, d, s, r, u, e, options=opts, full_output=True)
    dg = d.clone().requires_grad_(True)
    kept = run_hbv2(f, dg, s, r, u, e, options=opts, full_output=True)
    for key in ("streamflow", "AET", "SM", "SUZ", "SLZ", "recharge", "final_states"):
        torch.testing.assert_close(kept[key].detach(), free[key], rtol=0, atol=0, msg=key)
    f64 = run_hbv2(*(x.double() for x in (f, d, s, r, u, e)), options=opts)
    scale = f64["streamflow"].abs().max()
    err = (free["streamflow"].double() - f64["streamflow"]).abs().max() / scale
    assert float(err) < 1e-5


def test_prefer_vector_width_marks_the_compiled_function():
    """``prefer_vector_width()`` (called by the vectorised forward kernels) gives the LLVM
    function that holds the call LLVM's prefer-vector-width attribute of 512 bits, so that
    Intel CPUs with AVX-512 get 16 float32 lanes throughout rather than LLVM's 256-bit
    preference; a numba or llvmlite change that drops the attribute fails here."""
    from dhbv.physics.vector_width import WIDTH, prefer_vector_width

    def powers(x, b, out):
        prefer_vector_width()
        for i in range(x.size):
            out[i] = fpow(x[i], b[i])

    marked = njit(cache=False, error_model="numpy")(powers)
    x = np.full(64, 0.5, np.float32)
    out = np.empty_like(x)
    marked(x, x, out)
    np.testing.assert_array_equal(out, np.float32(0.5 ** 0.5))
    (text,) = marked.inspect_llvm().values()
    assert WIDTH == 512
    assert '"prefer-vector-width"="512"' in text
