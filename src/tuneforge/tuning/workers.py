"""``tuneforge tune --workers N``: N local ``tuneforge tune`` processes on one shared study.

Each worker is an ordinary ``tuneforge tune CONFIG ... --storage URL`` process (so workers on other
machines can join the same study by running that command), with ``cores // N`` threads and its log
in ``<tune dir>/workers/worker-K.log``. This process prepares the study, reports trials as they
finish, and writes the results once every worker has stopped; Ctrl-C stops the workers.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..config import RunConfig
from ..errors import ConfigError, TuneForgeError
from .search import TuneResult, open_study, run_search, write_results
from .storage import describe

log = logging.getLogger("tuneforge")
POLL_SECONDS = 2.0


def worker_command(config: Path, overrides: list[str], trials: int, timeout: float | None) -> list[str]:
    """The command line of one worker (the storage URL goes in its environment: no password in ``ps``)."""
    command = [sys.executable, "-m", "tuneforge", "tune", str(config), *overrides, "--trials", str(trials)]
    return command + (["--timeout", str(timeout)] if timeout is not None else [])


def _worker_env(threads: int, storage: str) -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TQDM_DISABLE="1",
                TUNEFORGE_TUNE_STORAGE=storage)


def _report_new(study, seen: set[int]) -> None:
    for trial in study.get_trials(deepcopy=False):
        if trial.number in seen or not trial.state.is_finished() or trial.user_attrs.get("surplus"):
            continue
        seen.add(trial.number)
        value = "" if trial.value is None else f" {trial.value:.4f}"
        log.info("trial %d %s%s (worker %s)", trial.number, trial.state.name.lower(), value,
                 trial.user_attrs.get("worker", "?"))


def _tail(path: Path, lines: int = 5) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").replace("\r", "\n") if path.exists() else ""
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])


def run_workers(cfg: RunConfig, config, overrides: list[str], trials: int, timeout: float | None,
                storage: str | None, workers: int) -> TuneResult:
    """Run ``workers`` processes of ``tuneforge tune`` on one study until it holds ``trials`` trials."""
    if workers < 1:
        raise ConfigError("--workers must be at least 1")
    if not isinstance(config, (str, Path)):
        raise ConfigError("tune with several workers starts processes from a config file; pass its path")
    study, storage_url, _, tune_dir, _ = open_study(cfg, storage)
    threads = max(1, (os.cpu_count() or 1) // workers)
    log_dir = tune_dir / "workers"
    log_dir.mkdir(parents=True, exist_ok=True)
    command = worker_command(Path(config), overrides, trials, timeout)
    log.info("starting %d workers on study %r in %s (%d thread(s) each; logs in %s)", workers, cfg.name,
             describe(storage_url), threads, log_dir)
    processes = []
    for index in range(workers):
        with open(log_dir / f"worker-{index}.log", "w", encoding="utf-8") as out:
            processes.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                              env=_worker_env(threads, storage_url)))
    seen: set[int] = set()
    try:
        while any(p.poll() is None for p in processes):
            time.sleep(POLL_SECONDS)
            _report_new(study, seen)
    except KeyboardInterrupt:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            process.wait(timeout=60)
        raise
    _report_new(study, seen)
    failed = [(i, p.returncode) for i, p in enumerate(processes) if p.returncode != 0]
    for index, code in failed:
        log.warning("worker %d exited with code %d; its last lines:\n%s", index, code,
                    _tail(log_dir / f"worker-{index}.log"))
    if len(failed) == workers:
        raise TuneForgeError(f"every worker failed; see {log_dir}")
    return write_results(cfg, storage_url)


def search(cfg: RunConfig, config, overrides: list[str], trials: int, timeout: float | None, storage: str | None,
           workers: int = 1) -> TuneResult:
    """``tuneforge tune``: the search in this process, or in ``workers`` local processes."""
    if workers == 1:
        return run_search(cfg, trials=trials, timeout=timeout, storage=storage)
    return run_workers(cfg, config, overrides, trials, timeout, storage, workers)
