"""Learned channel parameters: reach attributes → Manning n, width exponent q (and p).

δHBV2.0MC learns the channel parameters of every reach from static attributes of the reach
and its unit basin (docs/routing.md). This module holds the parameter network: a small MLP
applied to each reach independently, with sigmoid outputs scaled into physical ranges,

    n = n_min + (n_max − n_min)·σ(z_n),  q = q_min + (q_max − q_min)·σ(z_q)
    [p = p_min + (p_max − p_min)·σ(z_p) when learned, else the fixed p of ChannelParameters].

An MLP rather than a Kolmogorov–Arnold network: ten smooth, normalised inputs and two or three
bounded outputs per reach need no learned univariate splines, the MLP adds no dependency and
trains in a few hundred steps; the published KAN variant differs only in this mapping.

The inputs are expected normalised (zero mean, unit variance per attribute over the domain)
with NaNs already filled (see ``dhbv.routing.attributes``).
"""

from __future__ import annotations

import torch
from torch import nn

from dhbv.errors import DhbvInputError

from .geometry import ChannelParameters

#: physical ranges of the learned parameters: n [s m^-1/3], q [-], p [m^(1-q)]
N_RANGE = (0.015, 0.25)
Q_RANGE = (0.0, 1.0)
P_RANGE = (1.0, 200.0)
#: the width coefficient used when p is not learned (Bindas et al. 2024)
P_FIXED = 21.0


class RoutingParameterNetwork(nn.Module):
    """Per-reach MLP: attributes [R, A] (normalised) → ChannelParameters with tensors [R].

    n_attributes : A; hidden : width of each hidden layer; layers : number of hidden layers;
    learn_p : also learn the width coefficient p (else ``P_FIXED``); dropout : between layers.
    """

    def __init__(self, n_attributes: int, hidden: int = 64, layers: int = 2,
                 learn_p: bool = False, dropout: float = 0.0,
                 n_range=N_RANGE, q_range=Q_RANGE, p_range=P_RANGE):
        super().__init__()
        if n_attributes < 1 or hidden < 1 or layers < 1:
            raise DhbvInputError("routing network: n_attributes, hidden and layers must be ≥ 1")
        for name, (lo, hi) in (("n_range", n_range), ("q_range", q_range),
                               ("p_range", p_range)):
            if not lo < hi:
                raise DhbvInputError(f"routing network: {name} {lo}..{hi} is empty")
        self.n_attributes = n_attributes
        self.learn_p = learn_p
        self.ranges = {"n": tuple(n_range), "q": tuple(q_range), "p": tuple(p_range)}
        blocks: list[nn.Module] = []
        width = n_attributes
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.ReLU()]
            if dropout > 0:
                blocks.append(nn.Dropout(dropout))
            width = hidden
        blocks.append(nn.Linear(width, 3 if learn_p else 2))
        self.net = nn.Sequential(*blocks)

    def bounded(self, attributes: torch.Tensor) -> dict[str, torch.Tensor]:
        """{"n": [R], "q": [R](, "p": [R])} in their physical ranges."""
        if attributes.dim() != 2 or attributes.shape[1] != self.n_attributes:
            raise DhbvInputError(f"routing attributes: shape {tuple(attributes.shape)}, "
                                 f"expected [reaches, {self.n_attributes}]")
        if not bool(torch.isfinite(attributes).all()):
            raise DhbvInputError("routing attributes: NaN or infinite values; fill them first "
                                 "(dhbv.routing.attributes)")
        s = torch.sigmoid(self.net(attributes))
        names = ("n", "q", "p") if self.learn_p else ("n", "q")
        out = {}
        for k, name in enumerate(names):
            lo, hi = self.ranges[name]
            out[name] = lo + (hi - lo) * s[:, k]
        return out

    def forward(self, attributes: torch.Tensor) -> ChannelParameters:
        """ChannelParameters(n, q, p) for ``dhbv.routing.route``."""
        b = self.bounded(attributes)
        return ChannelParameters(n=b["n"], q=b["q"], p=b.get("p", P_FIXED))
