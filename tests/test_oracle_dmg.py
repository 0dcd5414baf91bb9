"""Oracle: published δMG (``dmg`` 1.5.0) LstmMlpModel weights load into dhbv networks.

Skipped unless the optional, non-commercially licensed ``dmg`` package is installed
(``pip install dhbv[oracle]``). dmg is only instantiated here to produce state dicts and
reference outputs; dhbv never imports it.
"""

import importlib

import pytest
import torch

from dhbv.nn.checkpoint import load_networks

pytestmark = pytest.mark.oracle

nnmods = pytest.importorskip(
    "dmg.models.neural_networks", reason="optional oracle package dmg not installed"
)

N_FORCING, N_ATTR, NMUL, T, B = 3, 28, 3, 50, 7


def _build(kind: str, hidden2: int):
    if kind == "legacy":  # the class dmg's config loader builds for 'LstmMlpModel' (lstm_mlp.py)
        cls = importlib.import_module("dmg.models.neural_networks.lstm_mlp").LstmMlpModel
        model = cls(
            nx1=N_FORCING + N_ATTR,
            ny1=3 * NMUL,
            hiddeninv1=64,
            nx2=N_ATTR,
            ny2=13 * NMUL + 2,
            hiddeninv2=hidden2,
            dr1=0.5,
            dr2=0.5,
            device="cpu",
        )
    else:  # the LstmMlpModel exported by dmg.models.neural_networks (stack_lstm_mlp.py)
        model = nnmods.LstmMlpModel(
            nx1=N_FORCING + N_ATTR,
            ny1=3 * NMUL,
            hiddeninv1=64,
            nx2=N_ATTR,
            ny2=13 * NMUL + 2,
            hiddeninv2=hidden2,
            dr1=0.5,
            dr2=0.5,
            device="cpu",
        )
    return model.cpu().float()


def _dmg_forward(kind, model, x1, x2):
    out = model(x1, x2)
    if kind == "legacy":
        return out[0], out[1]
    return out[0], out[3]


def _inputs():
    g = torch.Generator().manual_seed(11)
    xd = torch.randn(T, B, N_FORCING, generator=g)
    xs = torch.randn(B, N_ATTR, generator=g)
    x1 = torch.cat([xd, xs.expand(T, -1, -1)], dim=-1)  # dmg's xc_nn_norm: forcings then attributes
    return xd, xs, x1


# dmg's exported LstmMlpModel passes dropout to a single-layer nn.LSTM, which torch ignores (warns).
@pytest.mark.filterwarnings("ignore:dropout option adds dropout")
@pytest.mark.parametrize("kind", ["legacy", "stack"])
def test_dmg_state_dict_loads_and_matches(kind, tmp_path):
    torch.manual_seed(0)
    ref = _build(kind, hidden2=96).eval()
    path = tmp_path / "lstmmlp.pt"
    torch.save(
        {"nn_model." + k: v for k, v in ref.state_dict().items()}, path
    )  # as δMG DplModel saves
    nets = load_networks(path).eval()
    arch = nets.arch
    assert (arch.nmul, arch.lstm_hidden, arch.mlp_hidden) == (NMUL, 64, 96)
    assert (arch.n_dynamic_inputs, arch.n_static_inputs) == (N_FORCING, N_ATTR)
    if kind == "legacy":
        assert arch.mlp_layers == 7 and arch.lstm_input_activation == "relu"
    else:
        assert arch.mlp_layers == 3 and arch.lstm_input_activation == "none"
    xd, xs, x1 = _inputs()
    with torch.no_grad():
        want_dyn, want_sta = _dmg_forward(kind, ref, x1, xs)
        got_dyn, got_sta, _ = nets.raw_outputs(xd, xs)
    torch.testing.assert_close(got_dyn, want_dyn, rtol=0, atol=1e-5)
    torch.testing.assert_close(got_sta, want_sta, rtol=0, atol=1e-5)


def test_dmg_legacy_dropconnect_training_pass_matches():
    """Same seed → dmg's DropConnect masks (W_ih then W_hh) and MLP dropout equal dhbv's."""
    if torch.cuda.is_available():
        pytest.skip("dmg's legacy LSTM moves itself to CUDA when a GPU is present")
    torch.manual_seed(1)
    ref = _build("legacy", hidden2=32).train()
    nets = load_networks(ref.state_dict()).train()
    xd, xs, x1 = _inputs()
    torch.manual_seed(2024)
    want_dyn, want_sta = _dmg_forward("legacy", ref, x1, xs)
    torch.manual_seed(2024)
    got_dyn, got_sta, _ = nets.raw_outputs(xd, xs)
    torch.testing.assert_close(got_dyn, want_dyn, rtol=0, atol=1e-5)
    torch.testing.assert_close(got_sta, want_sta, rtol=0, atol=1e-5)


def test_paper_size_matches_dmg_legacy_parameter_count():
    """dmg's δHBV2.0 network at paper sizes (nmul 3) has the spec's 101,010,546 parameters."""
    cls = importlib.import_module("dmg.models.neural_networks.lstm_mlp").LstmMlpModel
    with torch.device("meta"):
        ref = cls(nx1=31, ny1=9, hiddeninv1=64, nx2=28, ny2=41, hiddeninv2=4096, device="cpu")
    assert sum(p.numel() for p in ref.parameters()) == 101_010_546
