"""What a run writes about itself besides its results: the ``train.log`` handler, the ``FAILED`` record,
durations as people read them, and the peak memory."""

from __future__ import annotations

import logging
from pathlib import Path

from ..fileops import atomic_write_text


def attach_log_file(run_dir: Path) -> logging.Handler:
    """Send TuneForge's and transformers' log lines to ``run_dir/train.log`` as well."""
    handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("tuneforge", "transformers"):
        logging.getLogger(name).addHandler(handler)
    logger = logging.getLogger("tuneforge")
    if logger.getEffectiveLevel() > logging.INFO:  # the log file holds INFO at least (DEBUG when asked for)
        logger.setLevel(logging.INFO)
    return handler


def format_seconds(seconds: float) -> str:
    """``3m05s``, or ``12.4s`` under a minute."""
    minutes, sec = divmod(int(round(seconds)), 60)
    return f"{minutes}m{sec:02d}s" if minutes else f"{seconds:.1f}s"


def peak_rss_mb() -> float:
    """The largest resident memory this process has had so far, in MB (Linux and macOS)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2**20 if sys.platform == "darwin" else 2**10), 1)


def record_failure(run_dir: Path, handler: logging.Handler, exc: BaseException) -> None:
    """Write the error into ``train.log`` only (not the console) and ``FAILED`` beside it."""
    message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, KeyboardInterrupt) else "interrupted"
    handler.handle(logging.LogRecord("tuneforge", logging.ERROR, __file__, 0, "run failed: %s", (message,), None))
    try:
        atomic_write_text(run_dir / "FAILED", message + "\n")
    except OSError:
        pass
