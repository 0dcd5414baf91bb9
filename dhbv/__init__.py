"""dhbv: δHBV2.0 (Song et al. 2025, WRR) — differentiable HBV 2.0 on MERIT-Basins unit catchments.

Sub-packages are split by concern: ``io`` (readers/writers), ``network`` (MERIT topology),
``forcing`` (grid → unit aggregation, PET), ``attributes``, ``physics`` (HBV 2.0, gamma UH),
``nn`` (LSTM/MLP parameterisation), ``training``, ``simulation``, ``evaluation``.
"""

__version__ = "0.1.0"
