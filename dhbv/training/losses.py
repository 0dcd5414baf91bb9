"""Training losses on gauge streamflow (mm d-1), docs/training.md."""
from __future__ import annotations

import torch


def rmse_comb(pred: torch.Tensor, obs: torch.Tensor, *, alpha: float = 0.25,
              beta: float = 1e-6) -> torch.Tensor:
    """RmseComb loss: (1 − α)·RMSE(ŷ, y) + α·RMSE(g(ŷ), g(y)), g(x) = log10(√(max(x,0)+β) + 0.1).

    ``pred`` and ``obs`` have the same shape (any layout, e.g. [T, G]) in mm d-1. Points where
    ``obs`` is NaN are masked (not filled); the two RMSEs are pooled over all remaining points
    of the mini-batch. Returns a 0-d tensor; NaN-free zero when no point is valid is *not*
    produced — the caller must skip batches without observations (a ValueError is raised).
    """
    if pred.shape != obs.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} != observation shape {tuple(obs.shape)}")
    mask = ~torch.isnan(obs)
    if not bool(mask.any()):
        raise ValueError("no valid observation in this batch")
    p = pred[mask]
    y = obs[mask]
    # clamp_min keeps the gradient finite when a term is exactly 0 (forward unchanged above 1e-12)
    rmse = torch.sqrt(torch.mean((p - y) ** 2).clamp_min(1e-12))
    gp = torch.log10(torch.sqrt(torch.clamp(p, min=0.0) + beta) + 0.1)
    gy = torch.log10(torch.sqrt(torch.clamp(y, min=0.0) + beta) + 0.1)
    rmse_log = torch.sqrt(torch.mean((gp - gy) ** 2).clamp_min(1e-12))
    return (1.0 - alpha) * rmse + alpha * rmse_log


def nse_batch_loss(pred: torch.Tensor, obs: torch.Tensor, obs_std: torch.Tensor,
                   eps: float = 0.1) -> torch.Tensor:
    """NSE* loss of Kratzert et al. (2019): mean over points of (ŷ−y)²/(σ_g + ε)².

    ``pred``/``obs`` [T, G] mm d-1, ``obs_std`` [G] per-gauge standard deviation of the training
    observations (mm d-1). NaN observations are masked.
    """
    mask = ~torch.isnan(obs)
    if not bool(mask.any()):
        raise ValueError("no valid observation in this batch")
    w = 1.0 / (obs_std + eps) ** 2
    err = (pred - torch.nan_to_num(obs)) ** 2 * w.unsqueeze(0)
    return err[mask].mean()


LOSSES = ("rmse_comb", "nse")
