"""Checkpoints that survive a kill: each is marked complete only after Trainer wrote all of it.

Trainer writes a checkpoint folder file by file (weights, optimizer, scheduler, RNG state,
trainer state) and then deletes older ones; a process killed meanwhile leaves a folder that
looks like a checkpoint but cannot be resumed from. ``CompletionMarker`` writes
``tuneforge-complete.json`` (every file and its size) after Trainer's ``on_save``;
``last_complete_checkpoint`` resumes from the newest folder whose marker still matches its
files and removes the others, with a warning.

Example:
    >>> trainer = Trainer(..., callbacks=[completion_marker()])
    >>> last_complete_checkpoint(run_dir / "checkpoints")
    'runs/x/checkpoints/checkpoint-40'
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

from ..fileops import atomic_write_text

log = logging.getLogger("tuneforge")
MARKER = "tuneforge-complete.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def _sizes(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MARKER}


def mark_complete(folder: Path) -> None:
    """Record every file of a finished checkpoint and its size in the folder's marker."""
    atomic_write_text(folder / MARKER, json.dumps(_sizes(folder), indent=0))


def is_complete(folder: Path) -> bool:
    """True when ``folder`` has a marker and every file it lists is there with its recorded size."""
    try:
        recorded = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(recorded, dict) or not recorded:
        return False
    for name, size in recorded.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != size:
            return False
    return True


def completion_marker():
    """A Trainer callback that marks each checkpoint complete once Trainer has saved all of it."""
    from transformers import TrainerCallback

    class CompletionMarker(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():  # every process has written its part (its RNG state)
                dist.barrier()
            if not state.is_world_process_zero:
                return
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                mark_complete(folder)

    return CompletionMarker()


def remove_dir(folder: Path) -> None:
    """Rename ``folder`` aside, then delete it: a kill midway never leaves a half-deleted folder in place."""
    aside = folder.with_name(f".{folder.name}.removing-{os.getpid()}")
    os.replace(folder, aside)
    shutil.rmtree(aside, ignore_errors=True)


def last_complete_checkpoint(checkpoints: Path) -> str | None:
    """The newest complete checkpoint folder below ``checkpoints`` (None if there is none).

    Incomplete checkpoints (written or deleted when the process was killed) are removed with a
    warning, so that Trainer neither resumes from them nor trips over them later.
    """
    if not checkpoints.is_dir():
        return None
    for stale in checkpoints.glob(".checkpoint-*.removing-*"):
        shutil.rmtree(stale, ignore_errors=True)
    complete = []
    for folder in _newest_first(checkpoints):
        if is_complete(folder):
            complete.append(folder)
        else:
            log.warning("checkpoint %s is incomplete (the process was stopped while writing or deleting it): "
                        "removing it", folder)
            remove_dir(folder)
    return str(complete[0]) if complete else None


def newest_complete_checkpoint(checkpoints: Path) -> str | None:
    """What ``last_complete_checkpoint`` picks, found without removing anything (the other processes
    of a distributed run; rank 0 tidies)."""
    if not checkpoints.is_dir():
        return None
    return next((str(folder) for folder in _newest_first(checkpoints) if is_complete(folder)), None)


def _newest_first(checkpoints: Path) -> list[Path]:
    found = sorted(((int(m.group(1)), p) for p in checkpoints.iterdir()
                    if p.is_dir() and (m := _CHECKPOINT.match(p.name))), reverse=True)
    return [folder for _, folder in found]


def no_step_past_max(trainer_class):
    """``trainer_class`` that trains no step when it resumes from a checkpoint at ``max_steps``.

    Trainer checks ``max_steps`` only after a step: resumed from a checkpoint at ``max_steps`` that
    ends mid-epoch (a run killed after its last checkpoint, before its bundle), it would train and log
    one step more. What is left of such a run is loading the best checkpoint, which Trainer still does.
    """

    class NoStepPastMax(trainer_class):
        def _run_epoch(self, *args, **kwargs):
            if 0 < self.state.max_steps <= self.state.global_step:
                self.control.should_training_stop = True
                return None
            return super()._run_epoch(*args, **kwargs)

    return NoStepPastMax


def resumed_train_metrics(metrics: dict, history: list[dict], checkpoint: str, global_step: int) -> dict:
    """Trainer's metrics of a resumed ``train()`` call, made about the whole run.

    Trainer averages the training loss over the steps of its own call only, and a call that resumed
    from the last checkpoint trained none: the loss becomes the mean over every logged window of the
    run, and a call without steps reports no throughput.
    """
    metrics = dict(metrics)
    last, total, steps = 0, 0.0, 0
    for entry in history:
        if "loss" in entry and entry.get("step", 0) > last:
            total += entry["loss"] * (entry["step"] - last)
            steps += entry["step"] - last
            last = entry["step"]
    if steps:
        metrics["train_loss"] = total / steps
    if global_step <= int(_CHECKPOINT.match(Path(checkpoint).name).group(1)):
        for key in ("train_samples_per_second", "train_steps_per_second"):
            metrics.pop(key, None)
    return metrics
