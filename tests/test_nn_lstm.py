"""DropConnect LSTM (docs/model.md#lstm): fused kernel vs an explicit per-step recurrence."""

import math

import pytest
import torch

from dhbv.errors import DhbvInputError
from dhbv.nn.lstm import DropConnectLSTM


def loop_reference(net: DropConnectLSTM, x, w_ih, w_hh):
    """Plain per-day LSTM (gate order i, f, g, o) written from the textbook equations."""
    z = net.linear_in(x)
    if net.input_activation == "relu":
        z = torch.relu(z)
    t_len, b, _ = x.shape
    h = x.new_zeros(b, net.hidden_size)
    c = x.new_zeros(b, net.hidden_size)
    outs = []
    for t in range(t_len):
        gates = z[t] @ w_ih.T + net.bias_ih + h @ w_hh.T + net.bias_hh
        i, f, g, o = gates.chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.sigmoid(net.linear_out(torch.stack(outs)))


@pytest.fixture
def net():
    torch.manual_seed(0)
    return DropConnectLSTM(7, 6, hidden_size=16, dropout=0.5).double()


def test_eval_matches_loop(net):
    net.eval()
    x = torch.randn(40, 5, 7, dtype=torch.float64)
    y = net(x)
    assert y.shape == (40, 5, 6)
    ref = loop_reference(net, x, net.weight_ih, net.weight_hh)
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    # evaluation is deterministic
    torch.testing.assert_close(net(x), y, rtol=0, atol=0)


def test_train_mask_matches_loop_and_gradients(net):
    net.train()
    x = torch.randn(30, 4, 7, dtype=torch.float64)
    torch.manual_seed(123)
    y = net(x)
    torch.manual_seed(123)
    m_ih, m_hh = net.sample_masks()
    ref = loop_reference(net, x, net.weight_ih * m_ih, net.weight_hh * m_hh)
    torch.testing.assert_close(y, ref, rtol=1e-12, atol=1e-12)
    # same gradients through the fused kernel and the loop
    g = torch.randn_like(y)
    grads_fused = torch.autograd.grad((y * g).sum(), [net.weight_ih, net.weight_hh, net.bias_ih])
    grads_loop = torch.autograd.grad((ref * g).sum(), [net.weight_ih, net.weight_hh, net.bias_ih])
    for a, b in zip(grads_fused, grads_loop):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    # dropped connections receive no gradient
    assert torch.all(grads_fused[0][m_ih == 0] == 0)
    assert torch.all(grads_fused[1][m_hh == 0] == 0)


def test_mask_values_and_rate(net):
    torch.manual_seed(5)
    m_ih, m_hh = net.sample_masks()
    assert m_ih.shape == net.weight_ih.shape and m_hh.shape == net.weight_hh.shape
    for m in (m_ih, m_hh):
        vals = set(torch.unique(m).tolist())
        assert vals <= {0.0, 2.0}  # kept weights scaled by 1/(1 - 0.5)
    frac_kept = torch.cat([m_ih.ravel(), m_hh.ravel()]).ne(0).double().mean().item()
    assert abs(frac_kept - 0.5) < 0.05  # 2048 draws: sd ≈ 0.011
    # one mask per forward pass: two training passes differ, eval does not use masks
    x = torch.randn(5, 3, 7, dtype=torch.float64)
    net.train()
    assert not torch.allclose(net(x), net(x))


def test_zero_dropout_train_equals_eval():
    torch.manual_seed(1)
    net = DropConnectLSTM(4, 3, hidden_size=8, dropout=0.0)
    x = torch.randn(10, 2, 4)
    y_train = net.train()(x)
    y_eval = net.eval()(x)
    torch.testing.assert_close(y_train, y_eval, rtol=0, atol=0)


def test_initialisation_bounds():
    torch.manual_seed(2)
    net = DropConnectLSTM(31, 12, hidden_size=64)
    bound = 1 / math.sqrt(64)
    for p in (net.weight_ih, net.weight_hh, net.bias_ih, net.bias_hh):
        assert p.abs().max().item() <= bound
        assert p.abs().max().item() > 0.9 * bound  # uniform fills the interval
    assert net.weight_ih.shape == (256, 64) and net.weight_hh.shape == (256, 64)
    assert net.linear_in.weight.shape == (64, 31) and net.linear_out.weight.shape == (12, 64)


def test_variants_without_activation_or_projection():
    torch.manual_seed(3)
    x = torch.randn(12, 3, 5, dtype=torch.float64)
    net = DropConnectLSTM(5, 4, hidden_size=8, input_activation="none").double().eval()
    ref = loop_reference(net, x, net.weight_ih, net.weight_hh)
    torch.testing.assert_close(net(x), ref)
    bare = DropConnectLSTM(5, 4, hidden_size=8, input_projection=False).double().eval()
    assert bare.linear_in is None and bare.weight_ih.shape == (32, 5)
    assert bare(x).shape == (12, 3, 4)


def test_state_continuation():
    """Running two halves with the carried state equals one run (eval)."""
    torch.manual_seed(4)
    net = DropConnectLSTM(3, 2, hidden_size=8).double().eval()
    x = torch.randn(20, 2, 3, dtype=torch.float64)
    full = net(x)
    a, st = net(x[:8], return_state=True)
    b = net(x[8:], st)
    torch.testing.assert_close(torch.cat([a, b]), full)


def test_bad_inputs():
    net = DropConnectLSTM(7, 6, hidden_size=8)
    with pytest.raises(DhbvInputError, match=r"\[T, B, 7\]"):
        net(torch.randn(4, 2, 6))
    with pytest.raises(DhbvInputError):
        DropConnectLSTM(7, 6, dropout=1.0)
    with pytest.raises(DhbvInputError):
        DropConnectLSTM(7, 6, input_activation="tanh")
