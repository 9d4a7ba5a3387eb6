"""``tuneforge train CONFIG --nproc N``: claim the run folder, start N training processes through
``torch.distributed.run`` (torchrun), and turn a process that died into one error that says how to
resume; then read the finished run back like a single-process one."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from ..config import RunConfig, load_config
from ..errors import ConfigError, TuneForgeError
from ..outputs import claimed_run_config, resumed_run_config
from .distributed import check_distributable
from .run import finished_run

log = logging.getLogger("tuneforge")


def worker_command(nproc: int, train_args: list[str]) -> list[str]:
    """``python -m torch.distributed.run`` (torchrun) with ``nproc`` processes of ``tuneforge train``."""
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
            "--max-restarts=0", "-m", "tuneforge", "train", *train_args]


def _threads_env(nproc: int) -> dict[str, str]:
    """Each process gets its share of the cores; rank 0 takes them all back after training."""
    threads = str(max(1, (os.cpu_count() or 1) // nproc))
    after = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    env = dict(os.environ, OMP_NUM_THREADS=threads, TUNEFORGE_THREADS_AFTER_TRAINING=after, TUNEFORGE_LAUNCHED="1")
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def launch(nproc: int, train_args: list[str], run_dir: Path) -> None:
    """Run ``tuneforge train train_args`` in ``nproc`` processes; a failed process raises one error."""
    if nproc < 2:
        raise ConfigError("--nproc must be at least 2 (without it, training runs in this process)")
    log.info("training in %d processes (torch.distributed, gloo on CPU); run folder %s", nproc, run_dir)
    try:
        code = subprocess.run(worker_command(nproc, train_args), env=_threads_env(nproc)).returncode
    except KeyboardInterrupt:
        raise TuneForgeError(f"interrupted; continue with: tuneforge train --resume {run_dir} --nproc {nproc}") from None
    if code != 0:
        marker = run_dir / "FAILED"
        if not marker.exists():  # a process killed from outside writes nothing itself
            marker.write_text(f"a training process ended with exit code {code}\n", encoding="utf-8")
        raise TuneForgeError(f"a training process failed (exit code {code}; see above and {run_dir / 'train.log'}); "
                             f"continue from the last checkpoint with: tuneforge train --resume {run_dir} "
                             f"--nproc {nproc}")


def launch_run(config, overrides: list[str], resume, overwrite: bool, nproc: int):
    """``api.train(..., nproc=N)``: claim the run folder here, train in ``nproc`` processes, and read
    the finished run back (metrics, bundle) as a ``RunResult``."""
    started = time.perf_counter()
    if isinstance(config, RunConfig):
        raise ConfigError("--nproc starts processes that read the config from a file; pass its path")
    if resume is not None:
        run_dir, cfg = Path(resume), resumed_run_config(resume, overrides)
        train_args = ["--resume", str(run_dir), *overrides]
    else:
        cfg = claimed_run_config(load_config(config, overrides), overwrite)
        run_dir = Path(cfg.output.dir).absolute()
        train_args = [str(config), *overrides, f"output.dir={run_dir}"]
    check_distributable(cfg, nproc)
    launch(nproc, train_args, run_dir)
    return finished_run(run_dir, started)
