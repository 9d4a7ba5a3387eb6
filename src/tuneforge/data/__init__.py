"""Data: read the configured files, check them, and split them.

Example:
    >>> splits = load_splits(cfg.data, get_task(cfg.task.type))
    >>> splits.label_names
    ['negative', 'positive']
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..errors import DataError
from .duplicates import normalised
from .examples import DataColumns, read_task_file
from .splits import sample_per_class, split_examples

log = logging.getLogger(__name__)

__all__ = ["DataColumns", "DataSplits", "load_splits"]


@dataclass
class DataSplits:
    """Checked examples for each split plus the label set learnt from training."""

    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    test: list[dict[str, Any]] | None
    label_names: list[str]
    stats: dict[str, Any]  # the task's train_stats: what baselines need (examples, label counts, ...)


def _key(example: dict[str, Any]) -> tuple:
    """What makes two examples the same: their text with case, punctuation and spacing aside."""
    if "tokens" in example:
        return tuple(example["tokens"])
    return (normalised(example["text"]), normalised(example.get("text_pair") or ""))


def _warn_duplicates_and_leakage(splits: dict[str, list[dict[str, Any]]]) -> None:
    train_keys = Counter(_key(e) for e in splits["train"])
    duplicates = sum(n - 1 for n in train_keys.values() if n > 1)
    if duplicates:
        log.warning("training data holds %d duplicate examples", duplicates)
    for name, examples in splits.items():
        if name == "train" or not examples:
            continue
        leaked = sum(1 for e in examples if _key(e) in train_keys)
        if leaked:
            log.warning("%d of %d %s examples also appear in the training data", leaked, len(examples), name)


def overlap_with_training(examples: list[dict[str, Any]], train: list[dict[str, Any]]) -> int:
    """How many of ``examples`` also appear (same text, case and spaces aside) in ``train``."""
    keys = {_key(e) for e in train if "text" in e or "tokens" in e}
    return sum(1 for e in examples if ("text" in e or "tokens" in e) and _key(e) in keys)


def load_splits(data_cfg, task, few_shot_seed: int | None = None) -> DataSplits:
    """Read train/validation/test as configured, splitting the training file where needed.

    With ``data.few_shot`` and a ``few_shot_seed``, training and validation keep ``per_class``
    examples of each class (validation as large as training, as a few-shot user would have);
    the test set stays whole.
    """
    columns = DataColumns.of(data_cfg)

    def read(path):
        return read_task_file(task, path, data_format=data_cfg.format, columns=columns)

    train = read(data_cfg.train)
    validation = read(data_cfg.validation) if data_cfg.validation else None
    test = read(data_cfg.test) if data_cfg.test else None
    seed = data_cfg.split.seed
    if data_cfg.few_shot is None:
        task.check_training_data(train, (validation is None) + (test is None and validation is None),
                                 str(data_cfg.train))
    if validation is None and test is None:
        train, test = split_examples(train, data_cfg.split.test, seed)
        train, validation = split_examples(train, data_cfg.split.validation / (1 - data_cfg.split.test), seed)
    elif validation is None:
        train, validation = split_examples(train, data_cfg.split.validation, seed)
    if data_cfg.max_train_samples and len(train) > data_cfg.max_train_samples:
        train, _ = split_examples(train, 1 - data_cfg.max_train_samples / len(train), seed)
    if data_cfg.few_shot is not None and few_shot_seed is not None:
        if not task.single_label:
            raise DataError(f"{data_cfg.train}: data.few_shot needs one label per example; task {task.name} has not")
        k = data_cfg.few_shot.per_class
        train = sample_per_class(train, k, few_shot_seed, str(data_cfg.train))
        validation = sample_per_class(validation, k, few_shot_seed, str(data_cfg.validation or data_cfg.train),
                                      require=False)
    limit = getattr(data_cfg, "max_eval_samples", None)
    if limit:  # the first examples of each evaluation split (generation is slow to evaluate)
        validation, test = validation[:limit], (test[:limit] if test else test)
    names = task.label_space(train, columns, str(data_cfg.train))
    task.check_known_labels(validation, names, "validation")
    if test:
        task.check_known_labels(test, names, "test")
    _warn_duplicates_and_leakage({"train": train, "validation": validation, "test": test or []})
    return DataSplits(train, validation, test, names, task.train_stats(train))
