"""dhbv: δHBV2.0 (Song et al. 2025, WRR) — differentiable HBV 2.0 on MERIT-Basins unit catchments.

Sub-packages are split by concern: ``io`` (readers/writers), ``network`` (MERIT topology),
``forcing`` (grid → unit aggregation, PET), ``attributes``, ``physics`` (HBV 2.0, gamma UH),
``nn`` (LSTM/MLP parameterisation), ``training``, ``simulation``, ``evaluation``.
"""

import os

# OpenMP threads of torch and of the numba kernels otherwise spin after every parallel region,
# which starves the other pool when both alternate many times per time step (measured 1.6x on
# the fused HBV forward+backward on 2 cores). Only effective when dhbv is imported before torch;
# a value set by the user is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
