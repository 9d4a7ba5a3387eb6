"""Translate the ``train`` config section into transformers' TrainingArguments."""

from __future__ import annotations

from pathlib import Path


def training_arguments(cfg, output_dir: Path, metric: str, greater_is_better: bool = True):
    """TrainingArguments for a run: dynamic padding is the collator's job, length grouping here.

    Evaluation and checkpointing happen each epoch (or every ``train.eval_steps`` steps);
    the best checkpoint by ``metric`` is restored at the end.
    """
    from transformers import TrainingArguments

    t = cfg.train
    strategy = "steps" if t.eval_steps else "epoch"
    return TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=t.epochs,
        max_steps=t.max_steps or -1,
        learning_rate=t.learning_rate,
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        warmup_steps=t.warmup_ratio,
        weight_decay=t.weight_decay,
        lr_scheduler_type=t.lr_scheduler,
        max_grad_norm=t.max_grad_norm,
        seed=t.seed,
        data_seed=t.seed,
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
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        length_column_name="length",
        remove_unused_columns=False,
        dataloader_pin_memory=False,
        report_to="none",
        disable_tqdm=False,
    )
