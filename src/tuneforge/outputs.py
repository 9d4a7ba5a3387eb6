"""Where each command writes: the one place that decides output folders.

``output.dir`` in the config wins; otherwise everything goes under ``runs/``, named after the
config: ``runs/<name>-<timestamp>`` for a training run (a new folder each time), ``runs/<name>-tune``
and ``runs/<name>-compare`` (fixed, so a rerun finds the study or the finished methods), and
``<run>/compressed`` beside the bundle that ``compress`` starts from.

Example:
    >>> run_folder(load_config("configs/demo.yaml"))
    PosixPath('runs/demo-20261125-101500')
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

RUNS = Path("runs")


def _configured(cfg) -> Path | None:
    return Path(cfg.output.dir) if cfg.output.dir is not None else None


def run_folder(cfg) -> Path:
    """A training run: ``output.dir`` or ``runs/<name>-<timestamp>``."""
    return _configured(cfg) or RUNS / f"{cfg.name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def tune_folder(cfg) -> Path:
    """A search: ``output.dir`` or ``runs/<name>-tune``."""
    return _configured(cfg) or RUNS / f"{cfg.name}-tune"


def compare_folder(cfg, given: str | Path | None = None) -> Path:
    """A method comparison: ``given`` (``--output``), ``output.dir`` or ``runs/<name>-compare``."""
    return Path(given) if given is not None else (_configured(cfg) or RUNS / f"{cfg.name}-compare")


def compress_folder(bundle: str | Path, given: str | Path | None = None) -> Path:
    """A compressed bundle: ``given`` (``--output``) or ``<run>/compressed`` beside ``bundle``."""
    return Path(given) if given else Path(bundle).parent / "compressed"
