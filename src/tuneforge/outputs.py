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

import shutil
from datetime import datetime
from pathlib import Path

from .errors import ConfigError

RUNS = Path("runs")
RUN_MARKERS = ("config.yaml", "train.log")  # what every training run writes first


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


def claim_run_folder(folder: str | Path, overwrite: bool = False) -> None:
    """Make sure a new training run may write into ``folder``: new or empty, or (with ``overwrite``) an
    earlier run's folder, whose contents are removed so logs and TensorBoard events do not mix.
    A folder holding anything that is not a run is never emptied."""
    folder = Path(folder)
    if not folder.exists():
        return
    if not folder.is_dir():
        raise ConfigError(f"output.dir {folder.absolute()} is a file, not a folder")
    entries = list(folder.iterdir())
    if not entries:
        return
    is_run = any((folder / marker).exists() for marker in RUN_MARKERS)
    if not is_run:
        raise ConfigError(f"output.dir {folder.absolute()} holds files and is not a run folder (no config.yaml or "
                          "train.log); choose a new or empty folder")
    if not overwrite:
        raise ConfigError(f"output.dir {folder.absolute()} holds an earlier run; add --overwrite to replace it "
                          f"(overwrite=True in the Python API), or continue it with --resume {folder}")
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def claimed_run_config(cfg, overwrite: bool = False):
    """``cfg`` with its run folder fixed (``runs/<name>-<timestamp>`` when ``output.dir`` is unset) and
    checked free by ``claim_run_folder``."""
    folder = run_folder(cfg)
    claim_run_folder(folder, overwrite)
    return cfg.model_copy(update={"output": cfg.output.model_copy(update={"dir": folder})})


def resumed_run_config(run_dir: str | Path, overrides: list[str] | None = None):
    """The resolved ``config.yaml`` of an earlier run folder (plus ``overrides``), set to continue there
    (``--resume``)."""
    from .config import load_config

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file():
        raise ConfigError(f"{run_dir}: not a run folder (config.yaml is missing)")
    return load_config(run_dir / "config.yaml", [*(overrides or []), f"output.dir={run_dir}", "train.resume=true"])
