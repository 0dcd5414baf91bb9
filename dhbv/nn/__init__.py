"""Parameterisation networks of δHBV2.0 (docs/model.md#parameter-networks).

* :class:`DropConnectLSTM` — dynamic parameters (BETA, K0, BETAET) per day;
* :class:`StaticMLP` — static HBV parameters and the two unit-hydrograph (UH) parameters per
  unit;
* :class:`ParameterNetworks` / :class:`NetworkArchitecture` — the pair and its sizes;
* :mod:`dhbv.nn.scaling` — output layout (parameter-major columns) and ``dy_drop``;
* :mod:`dhbv.nn.normalization` — z-score statistics (MHPI-compatible JSON);
* :mod:`dhbv.nn.checkpoint` — dhbv and published δMG weights.
"""

from dhbv.nn.checkpoint import convert_state_dict, load_networks, read_state_dict, save_networks
from dhbv.nn.lstm import DropConnectLSTM
from dhbv.nn.mlp import StaticMLP
from dhbv.nn.networks import NetworkArchitecture, ParameterNetworks, count_parameters
from dhbv.nn.scaling import DYNAMIC_LAYOUT, STATIC_LAYOUT, UH_LAYOUT

__all__ = [
    "DropConnectLSTM",
    "StaticMLP",
    "NetworkArchitecture",
    "ParameterNetworks",
    "count_parameters",
    "convert_state_dict",
    "load_networks",
    "read_state_dict",
    "save_networks",
    "DYNAMIC_LAYOUT",
    "STATIC_LAYOUT",
    "UH_LAYOUT",
]
