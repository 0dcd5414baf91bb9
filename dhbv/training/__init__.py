"""Training of δHBV2.0 models: data, sampling, losses, multiscale aggregation, trainer."""
from dhbv.training.trainer import train, load_trained

__all__ = ["train", "load_trained"]
