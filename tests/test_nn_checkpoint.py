"""Loading weights: dhbv files and δMG LstmMlpModel state-dict layouts (key names by hand)."""

import pytest
import torch

from dhbv.errors import DhbvInputError
from dhbv.nn.checkpoint import convert_state_dict, load_networks, read_state_dict, save_networks
from dhbv.nn.networks import NetworkArchitecture, ParameterNetworks


def small_nets(nmul=3, layers=7, activation="relu", projection=True, seed=0):
    torch.manual_seed(seed)
    arch = NetworkArchitecture(
        n_dynamic_inputs=3,
        n_static_inputs=6,
        nmul=nmul,
        lstm_hidden=8,
        mlp_hidden=12,
        mlp_layers=layers,
        lstm_input_projection=projection,
        lstm_input_activation=activation,
    )
    return ParameterNetworks(arch).eval()


def as_dmg_legacy(nets):
    """δMG lstm_mlp.LstmMlpModel names, as stored by its DplModel (prefix nn_model.)."""
    L, M = nets.lstm, nets.mlp
    sd = {
        "lstminv.linear_in.weight": L.linear_in.weight,
        "lstminv.linear_in.bias": L.linear_in.bias,
        "lstminv.lstm.w_ih": L.weight_ih,
        "lstminv.lstm.w_hh": L.weight_hh,
        "lstminv.lstm.b_ih": L.bias_ih,
        "lstminv.lstm.b_hh": L.bias_hh,
        "lstminv.linear_out.weight": L.linear_out.weight,
        "lstminv.linear_out.bias": L.linear_out.bias,
        "ann.i2h.weight": M.hidden[0].weight,
        "ann.i2h.bias": M.hidden[0].bias,
        "ann.h2o.weight": M.output.weight,
        "ann.h2o.bias": M.output.bias,
    }
    for k in range(1, len(M.hidden)):
        sd[f"ann.h2h{k}.weight"] = M.hidden[k].weight
        sd[f"ann.h2h{k}.bias"] = M.hidden[k].bias
    return {"nn_model." + k: v.detach().clone() for k, v in sd.items()}


def as_dmg_stack(nets):
    """δMG stack_lstm_mlp.LstmMlpModel names (nn.LSTM + nn.Sequential MLP)."""
    L, M = nets.lstm, nets.mlp
    sd = {
        "lstm_inv.weight_ih_l0": L.weight_ih,
        "lstm_inv.weight_hh_l0": L.weight_hh,
        "lstm_inv.bias_ih_l0": L.bias_ih,
        "lstm_inv.bias_hh_l0": L.bias_hh,
        "linear_out.weight": L.linear_out.weight,
        "linear_out.bias": L.linear_out.bias,
    }
    if L.linear_in is not None:
        sd["in_proj.weight"], sd["in_proj.bias"] = L.linear_in.weight, L.linear_in.bias
    for k, lin in enumerate(list(M.hidden) + [M.output]):
        sd[f"ann.{3 * k}.weight"], sd[f"ann.{3 * k}.bias"] = lin.weight, lin.bias
    return {k: v.detach().clone() for k, v in sd.items()}


def inputs(nets, t=9, b=4):
    torch.manual_seed(99)
    a = nets.arch
    return torch.randn(t, b, a.n_dynamic_inputs), torch.randn(b, a.n_static_inputs)


def assert_same_outputs(a, b):
    xd, xs = inputs(a)
    for x, y in zip(a(xd, xs), b.eval()(xd, xs)):
        torch.testing.assert_close(x, y, rtol=0, atol=0)


def test_dmg_legacy_layout_from_file(tmp_path):
    nets = small_nets(nmul=3, layers=7)
    path = tmp_path / "dplmodel_ep100.pt"
    torch.save(as_dmg_legacy(nets), path)
    arch, _, layout = convert_state_dict(read_state_dict(path)[0])
    assert layout == "dmg-lstm-mlp"
    assert arch == nets.arch  # nmul 3 from widths 9 / 41, 7 MLP layers, ReLU projection
    assert_same_outputs(nets, load_networks(path))
    # δMG model_states.pt wraps the weights under 'nn_trainable' next to run metadata
    wrapped = tmp_path / "model_states.pt"
    states = (torch.zeros(1, 2, 8), torch.zeros(1, 2, 8))
    torch.save({"nn_trainable": as_dmg_legacy(nets), "nn_states": states, "epoch": 100}, wrapped)
    tensors, meta = read_state_dict(wrapped)
    assert meta["epoch"] == 100 and all(k.startswith("nn_model.") for k in tensors)
    assert_same_outputs(nets, load_networks(wrapped))


def test_dmg_stack_layout_activation_none():
    nets = small_nets(nmul=2, layers=3, activation="none")
    loaded = load_networks(as_dmg_stack(nets))
    assert loaded.arch.lstm_input_activation == "none" and loaded.arch.mlp_layers == 3
    assert loaded.arch.nmul == 2
    assert_same_outputs(nets, loaded)
    bare = small_nets(nmul=1, layers=2, projection=False)
    loaded = load_networks(as_dmg_stack(bare))
    assert not loaded.arch.lstm_input_projection and loaded.arch.lstm_inputs == 9
    assert_same_outputs(bare, loaded)


def test_native_roundtrip_keeps_activation(tmp_path):
    nets = small_nets(nmul=4, layers=2, activation="none")
    save_networks(nets, tmp_path / "w.pt")
    loaded = load_networks(tmp_path / "w.pt", lstm_dropout=0.2, mlp_dropout=0.1)
    assert loaded.arch == nets.arch
    assert loaded.lstm.dropout == 0.2 and loaded.mlp.dropout == 0.1
    assert_same_outputs(nets, loaded)
    # a bare dhbv state dict (e.g. DeltaHBV.state_dict(), prefix networks.) also loads
    sd = {"networks." + k: v for k, v in nets.state_dict().items()}
    assert load_networks(sd, lstm_input_activation="none").arch == nets.arch


def test_incompatible_shapes_are_one_line_errors(tmp_path):
    nets = small_nets(nmul=3, layers=3)
    sd = as_dmg_legacy(nets)
    bad = dict(sd)
    bad["nn_model.ann.h2o.weight"] = torch.zeros(54, 12)  # 13·4+2 vs LSTM 3·3
    bad["nn_model.ann.h2o.bias"] = torch.zeros(54)
    with pytest.raises(DhbvInputError, match="3·nmul") as e:
        load_networks(bad)
    assert "\n" not in str(e.value)
    bad = dict(sd)
    bad["nn_model.ann.h2h2.weight"] = torch.zeros(12, 11)
    with pytest.raises(DhbvInputError, match="MLP layer 2"):
        load_networks(bad)
    bad = {k: v for k, v in sd.items() if "lstm.b_hh" not in k}
    with pytest.raises(DhbvInputError, match="lstminv.lstm.b_hh"):
        load_networks(bad)
    with pytest.raises(DhbvInputError, match="not recognised"):
        load_networks({"encoder.weight": torch.zeros(2, 2)})
    with pytest.raises(DhbvInputError, match="does not exist"):
        load_networks(tmp_path / "missing.pt")


def test_pickled_objects_are_refused(tmp_path):
    """Only weights-only files are read: an arbitrary pickled object is rejected."""
    path = tmp_path / "full_model.pt"
    torch.save(small_nets(nmul=1, layers=1), path)  # whole nn.Module pickle
    with pytest.raises(DhbvInputError, match="weights-only"):
        load_networks(path)
