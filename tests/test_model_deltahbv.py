"""DeltaHBV: networks → layout → run_hbv2, checkpoints, input checks (docs/model.md#python-interface)."""

import pytest
import torch

from dhbv.errors import DhbvInputError
from dhbv.nn.scaling import DYNAMIC_LAYOUT, STATIC_LAYOUT, UH_LAYOUT

hbv2 = pytest.importorskip("dhbv.physics.hbv2")
from dhbv.model import DeltaHBV  # noqa: E402

T, B, WARMUP = 120, 5, 20


def make_inputs(t=T, b=B, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    xd = torch.randn(t, b, 3, generator=g, dtype=dtype)
    xs = torch.randn(b, 4, generator=g, dtype=dtype)
    p = 20.0 * torch.rand(t, b, generator=g, dtype=dtype)
    temp = 10.0 + 8.0 * torch.randn(t, b, generator=g, dtype=dtype)
    pet = 3.0 * torch.rand(t, b, generator=g, dtype=dtype)
    forcing = torch.stack([p, temp, pet], dim=-1)
    uparea = torch.linspace(20.0, 4000.0, b, dtype=dtype)
    elev = torch.linspace(100.0, 2500.0, b, dtype=dtype)
    return xd, xs, forcing, uparea, elev


def small_model(**kw):
    torch.manual_seed(0)
    args = dict(nmul=2, lstm_hidden=8, mlp_hidden=16, mlp_layers=2)
    args.update(kw)
    return DeltaHBV(3, 4, **args)


def test_layout_names_agree_with_physics():
    assert hbv2.DYNAMIC_PARAMETERS == DYNAMIC_LAYOUT
    assert hbv2.STATIC_PARAMETERS == STATIC_LAYOUT
    assert hbv2.UH_PARAMETERS == UH_LAYOUT


def test_forward_equals_networks_then_physics():
    model = small_model().eval()
    xd, xs, f, up, el = make_inputs()
    out = model(xd, xs, f, up, el, warmup=WARMUP)
    for key in ("streamflow", "runoff", "AET"):
        assert out[key].shape == (T - WARMUP, B)
        assert torch.isfinite(out[key]).all()
    # independent composition: LSTM on [forcing, attributes], MLP on attributes, parameter-major split
    nets = model.networks
    lstm_out = nets.lstm(torch.cat([xd, xs.expand(T, -1, -1)], dim=-1))
    mlp_out = nets.mlp(xs)
    dyn = lstm_out.reshape(T, B, 3, 2)
    static = mlp_out[:, :26].reshape(B, 13, 2)
    routing = mlp_out[:, 26:]
    ref = hbv2.run_hbv2(f, dyn, static, routing, up, el, warmup=WARMUP, options=model.options)
    for key in ("streamflow", "runoff", "AET"):
        torch.testing.assert_close(out[key], ref[key], rtol=0, atol=0)
    assert model.nmul == 2 and model.arch.n_static_inputs == 4


def test_gradients_reach_both_networks():
    model = small_model().train()
    xd, xs, f, up, el = make_inputs(t=400, b=3)
    out = model(xd, xs, f, up, el, warmup=30)
    out["streamflow"].mean().backward()
    nets = model.networks
    for p in (
        nets.lstm.weight_ih,
        nets.lstm.linear_out.weight,
        nets.mlp.hidden[0].weight,
        nets.mlp.output.weight,
    ):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_float64_mode():
    model = small_model().double().eval()
    xd, xs, f, up, el = make_inputs(dtype=torch.float64)
    out = model(xd, xs, f, up, el)
    assert out["streamflow"].dtype == torch.float64


def test_dy_drop_only_in_training():
    model = small_model(dy_drop=1.0)
    xd, xs, _, _, _ = make_inputs()
    model.eval()
    dyn_eval, _, _, _ = model.hbv_parameters(xd, xs)
    assert not torch.allclose(dyn_eval[0], dyn_eval[-1])
    model.train()
    dyn_train, _, _, _ = model.hbv_parameters(xd, xs)
    torch.testing.assert_close(dyn_train, dyn_train[-1:].expand_as(dyn_train))


def test_dynamic_parameter_order_is_canonicalised():
    model = small_model(dynamic_parameters=["BETAET", "K0", "BETA"])
    assert model.dynamic_parameters == ("BETA", "K0", "BETAET")
    with pytest.raises(DhbvInputError, match="exactly"):
        small_model(dynamic_parameters=["BETA", "K0", "TT"])


def test_checkpoint_roundtrip(tmp_path):
    model = small_model(nmul=3, lstm_input_activation="none").eval()
    path = tmp_path / "dhbv.pt"
    model.save(path)
    again = DeltaHBV.from_checkpoint(path, model.options).eval()
    assert again.arch == model.arch
    xd, xs, f, up, el = make_inputs()
    a = model(xd, xs, f, up, el, warmup=WARMUP)
    b = again(xd, xs, f, up, el, warmup=WARMUP)
    torch.testing.assert_close(a["streamflow"], b["streamflow"], rtol=0, atol=0)
    # a plain DeltaHBV.state_dict() loads too (activation must then be named)
    sd_model = DeltaHBV.from_checkpoint(model.state_dict(), lstm_input_activation="none")
    assert sd_model.arch == model.arch


def test_input_errors():
    model = small_model()
    xd, xs, f, up, el = make_inputs()
    with pytest.raises(DhbvInputError, match=r"\[T, B, 3\]"):
        model(xd[..., :2], xs, f, up, el)
    with pytest.raises(DhbvInputError, match=r"\[B, 4\]"):
        model(xd, xs[:, :3], f, up, el)
    with pytest.raises(DhbvInputError, match="uparea"):
        model(xd, xs, f, up[:3], el)
    with pytest.raises(DhbvInputError, match="raw forcing"):
        model(xd, xs, f[..., :2], up, el)
    with pytest.raises(DhbvInputError, match="warmup"):
        model(xd, xs, f, up, el, warmup=T)


@pytest.mark.parametrize("dy_drop", [0.0, 0.5])
def test_spinup_without_gradients_keeps_values_and_cuts_backprop(dy_drop):
    """nograd_days: the same outputs as one pass (same DropConnect and dy_drop draws), zero
    gradient for the inputs of the no-grad days, nonzero for every day after them."""
    n_pre = 12
    outs, grads = [], []
    for nograd in (0, n_pre):
        model = small_model(dropout=0.5, dy_drop=dy_drop, dtype=torch.float64).train()
        xd, xs, f, up, el = make_inputs(dtype=torch.float64)
        xd.requires_grad_(True)
        torch.manual_seed(7)
        out = model(xd, xs, f, up, el, warmup=WARMUP, nograd_days=nograd)
        out["streamflow"].sum().backward()
        outs.append(out["streamflow"].detach())
        grads.append(xd.grad.abs().sum(dim=(1, 2)))
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-12, atol=1e-12)
    assert float(grads[1][:n_pre].max()) == 0.0
    assert float(grads[0][:n_pre].max()) > 0.0
    assert bool((grads[1][n_pre:] > 0).all())


def test_spinup_without_gradients_is_bounded_by_warmup_and_off_without_grad():
    model = small_model(dtype=torch.float64).eval()
    xd, xs, f, up, el = make_inputs(dtype=torch.float64)
    ref = model(xd, xs, f, up, el, warmup=WARMUP)["streamflow"]
    # nograd_days beyond the warm-up is capped at it; under no_grad it changes nothing
    out = model(xd, xs, f, up, el, warmup=WARMUP, nograd_days=10 * WARMUP)["streamflow"]
    torch.testing.assert_close(out, ref, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        out = model(xd, xs, f, up, el, warmup=WARMUP, nograd_days=WARMUP)["streamflow"]
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    with pytest.raises(DhbvInputError, match="nograd_days"):
        model(xd, xs, f, up, el, warmup=WARMUP, nograd_days=-1)


@pytest.mark.parametrize("split", [5, 60])
def test_state_round_trip_split_run_equals_unsplit(split):
    """A period run in two pieces, the second started from the first's ModelState (LSTM h/c,
    HBV stores, UH history), equals the unsplit run in every output (float64, eval mode)."""
    model = small_model(dropout=0.3).double().eval()
    xd, xs, f, up, el = make_inputs(dtype=torch.float64)
    with torch.no_grad():
        whole = model(xd, xs, f, up, el, full_output=True)
        first = model(xd[:split], xs, f[:split], up, el, full_output=True)
        second = model(xd[split:], xs, f[split:], up, el, full_output=True, state=first["state"])
    for key in ("streamflow", "runoff", "AET", "SM", "SLZ", "Q2_routed", "uh_in_transit"):
        joined = torch.cat([first[key], second[key]])
        torch.testing.assert_close(joined, whole[key], rtol=1e-12, atol=1e-12, msg=key)
    end, ref = second["state"], whole["state"]
    torch.testing.assert_close(end.hbv, ref.hbv, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(end.uh_history, ref.uh_history, rtol=1e-12, atol=1e-12)
    for a, b in zip(end.lstm, ref.lstm):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    # without the LSTM state the second piece differs: the LSTM memory is part of the state
    cold_lstm = type(first["state"])((torch.zeros_like(first["state"].lstm[0]),
                                      torch.zeros_like(first["state"].lstm[1])),
                                     first["state"].hbv, first["state"].uh_history)
    with torch.no_grad():
        other = model(xd[split:], xs, f[split:], up, el, state=cold_lstm)
    assert not torch.allclose(other["streamflow"], second["streamflow"], rtol=1e-6, atol=1e-9)
