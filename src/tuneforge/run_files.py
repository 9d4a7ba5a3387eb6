"""The data files of the run that made a bundle (its ``config.yaml`` beside the bundle), and samples of them.

Example:
    >>> train, evaluation = run_data_files("runs/sst2/bundle")
    >>> examples, source = training_sample("runs/sst2/bundle", manifest, "dev.tsv", 128)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("tuneforge")


def run_data_files(bundle: str | Path) -> tuple[Path | None, Path | None]:
    """Training and evaluation files of the run that made ``bundle`` (its ``config.yaml``), if known."""
    from .config import load_config

    config = Path(bundle).parent / "config.yaml"
    if not config.is_file():
        return None, None
    cfg = load_config(config)
    return cfg.data.train, cfg.data.test or cfg.data.validation


def training_sample(bundle: str | Path, manifest, evaluation: str | Path, size: int
                    ) -> tuple[list[dict[str, Any]] | None, str]:
    """A seeded sample of ``size`` examples of the training file of the run that made ``bundle`` and a
    phrase naming it (static int8 calibrates on it, so the data that scores a variant did not also
    calibrate it); (None, "") with a warning when that file is unknown, is ``evaluation`` itself, or
    does not read."""
    import random

    from .data import DataColumns
    from .data.examples import read_task_file
    from .errors import ConfigError, DataError
    from .tasks import get_task

    train = run_data_files(bundle)[0]
    if train is None or not Path(train).exists() or Path(train).resolve() == Path(evaluation).resolve():
        log.warning("static int8: the bundle's training data is not at hand; calibrating on the evaluation data")
        return None, ""
    try:
        examples = read_task_file(get_task(manifest.task.type), train, None, DataColumns.of(manifest.data),
                                  require_labels=False)
    except (DataError, ConfigError) as exc:
        log.warning("static int8: calibrating on the evaluation data (%s)", exc)
        return None, ""
    return random.Random(0).sample(examples, min(size, len(examples))), f"training ({Path(train).name})"
