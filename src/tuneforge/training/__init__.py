"""Training: transformers' Trainer wired to TuneForge's config, data, task and method."""

from .few_shot import FewShotResult, few_shot_run
from .run import RunResult, train_run

__all__ = ["FewShotResult", "RunResult", "few_shot_run", "train_run"]
