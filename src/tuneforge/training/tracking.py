"""Experiment tracking through Trainer's own integrations: TensorBoard in the run folder, MLflow on request.

TensorBoard event files go to ``<run_dir>/tensorboard`` (view with ``tensorboard --logdir runs``);
MLflow logs to ``train.mlflow_tracking_uri`` under an experiment named after the run.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError


def trackers(train_cfg) -> list[str]:
    """The trackers a run reports to: ``train.report_to`` plus mlflow when a tracking URI is set."""
    names = list(dict.fromkeys(train_cfg.report_to))
    if train_cfg.mlflow_tracking_uri and "mlflow" not in names:
        names.append("mlflow")
    return names


def _tensorboard_callback(log_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(
            "train.report_to includes tensorboard, which is not installed: pip install tensorboard "
            "(or set train.report_to=[])"
        ) from None
    from transformers.integrations import TensorBoardCallback

    return TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(log_dir)))


def _mlflow_callback():
    try:
        import mlflow  # noqa: F401
    except ImportError:
        raise ConfigError("train.mlflow_tracking_uri is set but mlflow is not installed: pip install 'tuneforge[mlflow]'") from None
    from transformers.integrations import MLflowCallback

    return MLflowCallback()


@contextmanager
def tracking_callbacks(cfg, run_dir: Path) -> Iterator[list]:
    """Trainer callbacks for the run's trackers; MLflow's environment is set only while training.

    Example:
        >>> with tracking_callbacks(cfg, Path("runs/sst2")) as callbacks:
        ...     Trainer(..., callbacks=callbacks).train()
    """
    names = trackers(cfg.train)
    callbacks = []
    if "tensorboard" in names:
        callbacks.append(_tensorboard_callback(run_dir / "tensorboard"))
    saved = {}
    if "mlflow" in names:
        callbacks.append(_mlflow_callback())
        env = {"MLFLOW_EXPERIMENT_NAME": cfg.name}
        if cfg.train.mlflow_tracking_uri:
            env["MLFLOW_TRACKING_URI"] = cfg.train.mlflow_tracking_uri
        saved = {key: os.environ.get(key) for key in env}
        os.environ.update(env)
    try:
        yield callbacks
    finally:
        for callback in callbacks:
            writer = getattr(callback, "tb_writer", None)
            if writer is not None:
                writer.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
