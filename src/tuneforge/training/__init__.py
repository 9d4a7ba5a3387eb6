"""Training: transformers' Trainer wired to TuneForge's config, data, task and method."""

from .run import RunResult, train_run

__all__ = ["RunResult", "train_run"]
