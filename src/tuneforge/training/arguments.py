"""Translate the ``train`` config section into transformers' TrainingArguments."""

from __future__ import annotations

from pathlib import Path

from ..precision import resolve_precision


def trainer_arguments(output_dir, *, epochs: float, learning_rate: float, batch_size: int, seed: int,
                      arguments_class=None, precision: str = "fp32", **options):
    """Trainer arguments every TuneForge training shares (no external trackers, no pinned memory, seeded
    data order, a progress bar), bf16 autocast when ``precision`` is ``bf16`` (a resolved precision, see
    ``tuneforge.precision``; weights and optimizer state stay fp32), plus ``options``;
    ``arguments_class`` e.g. sentence-transformers' own (default: transformers' ``TrainingArguments``).
    The run, distillation and SetFit all build theirs here.

    Example:
        >>> trainer_arguments(tmp, epochs=1, learning_rate=1e-4, batch_size=32, seed=42, save_strategy="no")
    """
    if arguments_class is None:
        from transformers import TrainingArguments as arguments_class
    defaults = dict(report_to="none", dataloader_pin_memory=False, data_seed=seed, disable_tqdm=False)
    if precision == "bf16":
        defaults.update(bf16=True, use_cpu=True)
    return arguments_class(output_dir=str(output_dir), num_train_epochs=epochs, learning_rate=learning_rate,
                           per_device_train_batch_size=batch_size, seed=seed, **{**defaults, **options})


def training_arguments(cfg, output_dir: Path, metric: str, greater_is_better: bool = True,
                       group_by_length: bool | None = None):
    """TrainingArguments for a run: dynamic padding is the collator's job, length grouping here.

    Evaluation and checkpointing happen each epoch (or every ``train.eval_steps`` steps);
    the best checkpoint by ``metric`` is restored at the end.
    """
    from .distributed import distributed_options, per_process_batch, world

    t = cfg.train
    strategy = "steps" if t.eval_steps else "epoch"
    return trainer_arguments(
        output_dir,
        epochs=t.epochs,
        learning_rate=t.learning_rate,
        batch_size=per_process_batch(t.batch_size, world()[1]),  # the global batch is t.batch_size
        seed=t.seed,
        precision=resolve_precision(t.precision).name,
        torch_compile=t.compile,
        activation_checkpointing=t.gradient_checkpointing,  # transformers 5 name of gradient checkpointing
        optim="adamw_torch_fused" if t.fused_optimizer else "adamw_torch",
        max_steps=t.max_steps or -1,
        per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        warmup_steps=t.warmup_ratio,
        weight_decay=t.weight_decay,
        lr_scheduler_type=t.lr_scheduler,
        max_grad_norm=t.max_grad_norm,
        eval_strategy=strategy,
        save_strategy=strategy,
        eval_steps=t.eval_steps,
        save_steps=t.eval_steps,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=metric,
        greater_is_better=greater_is_better,
        logging_strategy="steps",
        logging_steps=t.logging_steps,
        train_sampling_strategy="group_by_length" if (t.group_by_length if group_by_length is None
                                                      else group_by_length) else "random",
        length_column_name="length",
        remove_unused_columns=False,
        disable_tqdm=False,
        **distributed_options(t.deepspeed),
    )
