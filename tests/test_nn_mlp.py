"""Static MLP and the network pair: structure and parameter count (docs/model.md#mlp)."""

import pytest
import torch

from dhbv.errors import DhbvInputError
from dhbv.nn.mlp import StaticMLP
from dhbv.nn.networks import NetworkArchitecture, ParameterNetworks, count_parameters


def test_paper_size_nmul3_meta_and_analytic():
    """nmul = 3, 28 attributes, 31 LSTM inputs → 101,010,546 parameters (docs/model.md#mlp)."""
    arch = NetworkArchitecture(n_dynamic_inputs=3, n_static_inputs=28, nmul=3)
    assert count_parameters(arch) == 101_010_546
    with torch.device("meta"):
        nets = ParameterNetworks(arch)
    n_lstm = sum(p.numel() for p in nets.lstm.parameters())
    n_mlp = sum(p.numel() for p in nets.mlp.parameters())
    assert n_lstm + n_mlp == 101_010_546
    # hand count: LSTM 31·64+64 + 4·64·(64+64) + 8·64 + 64·9+9 ; MLP share ≈ 99.96 %
    assert n_lstm == 2048 + 32768 + 512 + 585
    assert n_mlp / (n_lstm + n_mlp) > 0.997
    assert nets.lstm.linear_out.out_features == 9 and nets.mlp.output.out_features == 41
    assert len(nets.mlp.hidden) == 7


def test_small_real_instance_count_matches_analytic():
    arch = NetworkArchitecture(
        n_dynamic_inputs=3, n_static_inputs=5, nmul=2, lstm_hidden=6, mlp_hidden=10, mlp_layers=3
    )
    nets = ParameterNetworks(arch)
    real = sum(p.numel() for p in nets.parameters())
    # LSTM: 8·6+6 + 4·6·12 + 48 + 6·6+6 = 54+288+48+42 ; MLP: 5·10+10 + 2·110 + 10·28+28
    assert real == 432 + 588
    assert count_parameters(arch) == real
    no_proj = NetworkArchitecture(
        n_dynamic_inputs=3,
        n_static_inputs=5,
        nmul=2,
        lstm_hidden=6,
        mlp_hidden=10,
        mlp_layers=3,
        lstm_input_projection=False,
    )
    assert count_parameters(no_proj) == sum(
        p.numel() for p in ParameterNetworks(no_proj).parameters()
    )


def test_mlp_forward_and_dropout():
    torch.manual_seed(0)
    mlp = StaticMLP(4, 7, hidden_size=32, n_hidden_layers=3, dropout=0.5)
    a = torch.randn(9, 4)
    mlp.eval()
    y = mlp(a)
    assert y.shape == (9, 7) and torch.all((y > 0) & (y < 1))
    torch.testing.assert_close(mlp(a), y, rtol=0, atol=0)
    # explicit forward: sigmoid(W_o relu(W_2 relu(W_1 relu(W_0 a))))
    h = a
    for lin in mlp.hidden:
        h = torch.relu(h @ lin.weight.T + lin.bias)
    torch.testing.assert_close(y, torch.sigmoid(h @ mlp.output.weight.T + mlp.output.bias))
    mlp.train()
    assert not torch.allclose(mlp(a), y)


def test_mlp_bad_width():
    mlp = StaticMLP(4, 7, hidden_size=8, n_hidden_layers=2)
    with pytest.raises(DhbvInputError, match=r"\[B, 4\]"):
        mlp(torch.randn(3, 5))


def test_networks_layout_and_input_checks():
    torch.manual_seed(1)
    arch = NetworkArchitecture(
        n_dynamic_inputs=3, n_static_inputs=4, nmul=2, lstm_hidden=8, mlp_hidden=16, mlp_layers=2
    )
    nets = ParameterNetworks(arch).eval()
    xd, xs = torch.randn(11, 5, 3), torch.randn(5, 4)
    dyn, static, uh_params, (h, c) = nets(xd, xs)
    assert dyn.shape == (11, 5, 3, 2) and static.shape == (5, 13, 2) and uh_params.shape == (5, 2)
    assert h.shape == c.shape == (1, 5, 8)
    raw_d, raw_s, _ = nets.raw_outputs(xd, xs)
    # LSTM sees the forcings followed by the attributes repeated in time
    lstm_in = torch.cat([xd, xs.expand(11, -1, -1)], dim=-1)
    torch.testing.assert_close(raw_d, nets.lstm(lstm_in))
    torch.testing.assert_close(dyn[:, :, 1, 0], raw_d[:, :, 2])  # K0, component 0 → column 1·nmul
    torch.testing.assert_close(static[:, 12, 1], raw_s[:, 25])  # AC, component 1 → 12·2+1
    torch.testing.assert_close(uh_params, raw_s[:, 26:])
    with pytest.raises(DhbvInputError, match="static network input"):
        nets(xd, torch.randn(5, 3))
    with pytest.raises(DhbvInputError, match="units"):
        nets(xd, torch.randn(4, 4))
