"""Small networks shared by the routing tests (no tests of its own)."""

import numpy as np
import torch

from dhbv.routing import RoutingGraph

# 7 reaches: 0,1 -> 2; 3 -> 4; 2,4 -> 5; 5 -> 6 (outlet); binary confluences and a chain
DOWN7 = np.array([2, 2, 5, 4, 5, 6, -1])


def tree7(seed: int = 0) -> RoutingGraph:
    rng = np.random.default_rng(seed)
    return RoutingGraph(DOWN7, rng.uniform(2000, 9000, 7), rng.uniform(5e-4, 0.01, 7))


def lateral(records: int, n: int, seed: int = 1, dtype=torch.float64, lo=0.2, hi=4.0):
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.uniform(lo, hi, (records, n)), dtype=dtype)
