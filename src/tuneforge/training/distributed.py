"""Data-parallel training over several processes: ``tuneforge train CONFIG --nproc N`` on one machine,
or ``torchrun``/``accelerate launch`` for several (see the README).

Trainer does the distributed work itself (PyTorch DDP; gloo on CPU, NCCL on GPU): each process trains
on its share of every global batch and gradients are averaged. TuneForge keeps the global batch of a
single-process run (``train.batch_size`` is split over the processes), and only the first process
(rank 0) writes the run folder: log, config, checkpoints, report and bundle; the others stop after
training. ``training.launch`` starts the processes for ``--nproc``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError


def world() -> tuple[int, int]:
    """``(rank, world size)`` of this process: ``(0, 1)`` outside a distributed launch."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True in a single-process run and in rank 0 of a distributed one."""
    return world()[0] == 0


def per_process_batch(batch_size: int, world_size: int) -> int:
    """The per-process batch that keeps the global batch ``batch_size`` (it must split evenly)."""
    if batch_size % world_size:
        raise ConfigError(f"train.batch_size {batch_size} does not split evenly over {world_size} processes; "
                          f"use a multiple of {world_size} (the global batch stays train.batch_size)")
    return batch_size // world_size


def distributed_options(deepspeed: Path | None = None) -> dict:
    """TrainingArguments for a distributed launch (nothing outside one), with ``train.deepspeed``.

    - Without a GPU, Trainer's DDP must be told to run on the CPU (gloo).
    - Each process's loss stays its own batch mean and DDP averages the gradients: the gradient of the
      global batch's mean. Trainer's default (``average_tokens_across_devices``) multiplies the loss by
      the number of processes for models whose ``forward`` takes ``**kwargs``, which doubles the
      gradient of classifiers that compute their own mean (measured: logged losses 2x, steps off)."""
    import torch

    if deepspeed is not None:
        if world()[1] <= 1:
            raise ConfigError("train.deepspeed runs in a distributed launch: add --nproc N (N >= 2), or start the "
                              "run with torchrun or the deepspeed launcher")
        return {**distributed_options(), "deepspeed": deepspeed_config(deepspeed)}
    if world()[1] <= 1:
        return {}
    options = {"average_tokens_across_devices": False}
    return {**options, "use_cpu": True, "ddp_backend": "gloo"} if not torch.cuda.is_available() else options


def deepspeed_config(path: Path) -> str:
    """``train.deepspeed`` checked: DeepSpeed installed and a JSON object in the file (Trainer reads it)."""
    import importlib.util
    import json

    if importlib.util.find_spec("deepspeed") is None:
        raise ConfigError("train.deepspeed needs DeepSpeed: pip install 'tuneforge[deepspeed]' (on CPU it compiles "
                          "its communication op once, about 90 s)")
    try:
        settings = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"train.deepspeed {path}: not a readable JSON file ({exc})") from None
    if not isinstance(settings, dict):
        raise ConfigError(f"train.deepspeed {path}: a JSON object (DeepSpeed's config) is expected")
    if (settings.get("zero_optimization") or {}).get("stage") == 3:  # measured: evaluation fails on shards
        raise ConfigError(f"train.deepspeed {path}: ZeRO stage 3 splits the weights across processes, and the run's "
                          "evaluation and bundle need them whole; use stage 1 or 2 (optimizer state and gradients "
                          "split, optionally offloaded to CPU)")
    return str(Path(path).resolve())


def check_distributable(cfg, nproc: int) -> None:
    """Refuse what a run in ``nproc`` processes cannot do, before training starts."""
    from ..methods import METHODS

    if cfg.data.few_shot is not None:
        raise ConfigError("few-shot runs train tiny sets one seed at a time; run them without --nproc")
    if not METHODS.get(cfg.method.name)().uses_trainer:
        raise ConfigError(f"--nproc trains with Trainer's data parallelism; {cfg.method.name} builds its model "
                          "by a recipe of its own")
    if world()[1] > 1 and cfg.output.dir is None:
        raise ConfigError("in a distributed launch, set output.dir so that every process uses the same run folder")
    per_process_batch(cfg.train.batch_size, nproc)
    if cfg.train.deepspeed is not None:
        deepspeed_config(cfg.train.deepspeed)


def end_process_group() -> None:
    """After training: wait for every process, then leave the process group (rank 0 goes on alone)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    threads = os.environ.get("TUNEFORGE_THREADS_AFTER_TRAINING")
    if threads and threads.isdigit() and is_main_process():  # evaluation and the bundle: every core again
        import torch

        torch.set_num_threads(int(threads))


def global_batch_sampling(trainer_class):
    """``trainer_class`` whose length-grouped sampler groups by the global batch in a distributed run.

    Trainer builds it for the per-process batch, so two processes would group lengths in half-size
    blocks and see other batches than one process does. Grouped by the global batch, the k-th global
    batch is the same examples as a single process's k-th batch (each process takes its half), so the
    runs compute the same steps (up to padding and dropout)."""
    from transformers.trainer_pt_utils import LengthGroupedSampler

    class GlobalBatchSampling(trainer_class):
        def _get_train_sampler(self, train_dataset=None):
            sampler = super()._get_train_sampler(train_dataset)
            if not isinstance(sampler, LengthGroupedSampler) or self.args.world_size <= 1:
                return sampler
            return LengthGroupedSampler(sampler.batch_size * self.args.world_size, lengths=sampler.lengths,
                                        generator=sampler.generator)

    return GlobalBatchSampling
