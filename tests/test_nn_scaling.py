"""Output layout (parameter-major), canonical dynamic order, dy_drop (docs/model.md#output-layout)."""

import pytest
import torch

from dhbv.errors import DhbvInputError
from dhbv.nn.scaling import (
    DYNAMIC_LAYOUT,
    STATIC_LAYOUT,
    UH_LAYOUT,
    apply_dy_drop,
    canonical_dynamic_order,
    nmul_from_widths,
    physical_values,
    split_dynamic,
    split_static,
)


def test_layout_constants():
    assert DYNAMIC_LAYOUT == ("BETA", "K0", "BETAET")
    assert STATIC_LAYOUT == (
        "FC",
        "K1",
        "K2",
        "LP",
        "PERC",
        "UZL",
        "TT",
        "CFMAX",
        "CFR",
        "CWH",
        "C",
        "RT",
        "AC",
    )
    assert UH_LAYOUT == ("route_a", "route_b")


def test_split_dynamic_parameter_major():
    nmul = 4
    # column value = 10·k + j encodes (parameter k, component j)
    cols = torch.tensor([10.0 * k + j for k in range(3) for j in range(nmul)])
    out = cols.expand(2, 3, -1)  # [T=2, B=3, 12]
    dyn = split_dynamic(out, nmul)
    assert dyn.shape == (2, 3, 3, 4)
    assert dyn[1, 2, 2, 3].item() == 23.0  # BETAET, component 3
    assert dyn[0, 0, 1, 0].item() == 10.0  # K0, component 0


def test_split_static_parameter_major():
    nmul = 3
    cols = torch.tensor([10.0 * k + j for k in range(13) for j in range(nmul)] + [900.0, 901.0])
    static, routing = split_static(cols.expand(5, -1), nmul)
    assert static.shape == (5, 13, 3) and routing.shape == (5, 2)
    assert static[4, 0, 2].item() == 2.0  # FC, comp 2
    assert static[0, 12, 1].item() == 121.0  # AC, comp 1
    assert routing[0].tolist() == [900.0, 901.0]
    with pytest.raises(DhbvInputError, match="13·nmul|41"):
        split_static(torch.zeros(5, 40), 3)


def test_canonical_order():
    assert canonical_dynamic_order(["BETAET", "BETA", "K0"]) == DYNAMIC_LAYOUT
    assert canonical_dynamic_order(["K0", "BETAET", "BETA"]) == DYNAMIC_LAYOUT
    with pytest.raises(DhbvInputError, match="unknown"):
        canonical_dynamic_order(["BETA", "K0", "GAMMA"])
    with pytest.raises(DhbvInputError, match="twice"):
        canonical_dynamic_order(["BETA", "BETA", "K0"])
    with pytest.raises(DhbvInputError, match="exactly"):
        canonical_dynamic_order(["BETA", "K0", "FC"])


def test_nmul_from_widths():
    assert nmul_from_widths(9, 41) == 3
    assert nmul_from_widths(12, 54) == 4
    with pytest.raises(DhbvInputError):
        nmul_from_widths(9, 54)
    with pytest.raises(DhbvInputError):
        nmul_from_widths(10, 41)


def test_dy_drop_extremes_and_rate():
    torch.manual_seed(0)
    dyn = torch.rand(6, 400, 3, 2, requires_grad=True)
    assert apply_dy_drop(dyn, 0.0) is dyn
    all_drop = apply_dy_drop(dyn, 1.0)
    torch.testing.assert_close(all_drop, dyn[-1:].expand(6, -1, -1, -1))
    part = apply_dy_drop(dyn, 0.3)
    const = (part == part[-1:]).all(dim=0).all(dim=-1)  # [B, 3] series replaced by last day
    kept = (part == dyn).all(dim=0).all(dim=-1)
    assert torch.all(const | kept)
    frac = const.float().mean().item()  # 1200 draws, sd ≈ 0.013
    assert 0.25 < frac < 0.35
    part.sum().backward()
    assert dyn.grad is not None and dyn.grad[-1].sum() > 0


def test_physical_values():
    ranges = {"BETA": (1.0, 6.0), "K0": (0.05, 0.9), "BETAET": (0.3, 5.0)}
    sig = torch.tensor([[[[0.0], [0.5], [1.0]]]])  # [1, 1, 3, 1]
    vals = physical_values(sig, DYNAMIC_LAYOUT, ranges, axis=2)
    assert vals["BETA"].item() == pytest.approx(1.0)
    assert vals["K0"].item() == pytest.approx(0.475)
    assert vals["BETAET"].item() == pytest.approx(5.0)
    with pytest.raises(DhbvInputError, match="lacks"):
        physical_values(sig, DYNAMIC_LAYOUT, {"BETA": (1, 6)}, axis=2)
