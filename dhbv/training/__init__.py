"""Training of δHBV2.0 models: window sampling, losses, checkpoints and the training loop."""
from dhbv.training.trainer import train, train_model

__all__ = ["train", "train_model"]
