"""Data: read the configured files, check them, and split them.

Example:
    >>> splits = load_splits(cfg.data, "classification")
    >>> splits.label_names
    ['negative', 'positive']
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from ..errors import DataError
from .examples import read_examples
from .splits import sample_per_class, split_examples

log = logging.getLogger(__name__)

__all__ = ["DataSplits", "load_splits", "read_examples", "label_names_of", "check_known_labels"]


@dataclass
class DataSplits:
    """Checked examples for each split plus the label set learnt from training."""

    train: list[dict[str, Any]]
    validation: list[dict[str, Any]]
    test: list[dict[str, Any]] | None
    label_names: list[str]
    label_counts: dict[str, int]


def _labels_of(example: dict[str, Any]) -> list[str]:
    if "tags" in example:
        return list(example["tags"] or [])
    label = example["label"]
    return list(label) if isinstance(label, list) else [label]


def label_names_of(train: list[dict[str, Any]], task_type: str, given: list[str] | None = None) -> list[str]:
    """The label set: ``given`` order if set, else sorted (entity tags: 'O' first, then by type)."""
    seen = Counter(label for example in train for label in _labels_of(example))
    if task_type == "token_classification":
        entity_types = sorted({tag[2:] for tag in seen if tag != "O"})
        names = ["O"] + [f"{prefix}-{t}" for t in entity_types for prefix in ("B", "I") if f"{prefix}-{t}" in seen]
        # Make sure every B- tag has its I- partner so predictions can continue an entity.
        names += [f"I-{t}" for t in entity_types if f"I-{t}" not in names]
        return names
    if given:
        return list(given)
    return sorted(seen)


def check_known_labels(examples: list[dict[str, Any]], label_names: list[str], split: str) -> None:
    """Fail on the first example whose label never appears in training."""
    known = set(label_names)
    for example in examples:
        for label in _labels_of(example):
            if label not in known:
                raise DataError(
                    f"{example['where']}: label {label!r} in the {split} data never appears in the training data "
                    f"(known labels: {', '.join(label_names)})"
                )


def _key(example: dict[str, Any]) -> tuple:
    if "tokens" in example:
        return tuple(example["tokens"])
    return (example["text"].strip().lower(), (example.get("text_pair") or "").strip().lower())


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


MISSING_LOOKING = {"nan", "null", "none", "na", "n/a", "nil", "undefined", "?", "-"}


def _warn_missing_looking_labels(examples: list[dict[str, Any]], source: str) -> None:
    """Labels such as ``NaN`` or ``null`` are usually missing values that a spreadsheet wrote as text."""
    found: dict[str, list[str]] = {}
    for example in examples:
        if "tags" in example:
            return
        for label in _labels_of(example):
            if label.strip().lower() in MISSING_LOOKING:
                found.setdefault(label, []).append(example["where"])
    for label, wheres in found.items():
        log.warning("%s: %d examples have the label %r, which looks like a missing value (first: %s); it becomes a "
                    "class of its own: fill in or remove those rows if that is not meant", source, len(wheres), label,
                    wheres[0])


def _check_class_sizes(train: list[dict[str, Any]], task_type: str, splits_carved: int, source: str) -> None:
    """Refuse single-label classes too small to appear in every split carved from the training file;
    warn about classes with a single training example."""
    if task_type == "token_classification":
        return
    counts = Counter(label for example in train for label in _labels_of(example))
    needed = 1 + splits_carved
    if task_type == "classification" and splits_carved:
        small = sorted((n, label) for label, n in counts.items() if n < needed)
        if small:
            n, label = small[0]
            names = ", ".join(repr(lbl) for _, lbl in small[:5])
            raise DataError(
                f"{source}: label {label!r} has only {n} example(s) ({len(small)} labels are that small: {names}); "
                f"carving {'validation and test sets' if splits_carved == 2 else 'a validation set'} out of the "
                f"training file needs at least {needed} per label, one for each split. Add examples, drop the label, "
                "or give data.validation and data.test files")
    single = sorted(label for label, n in counts.items() if n == 1)
    if single:
        log.warning("%s: %d labels have a single training example (%s): the model can hardly learn them", source,
                    len(single), ", ".join(repr(lbl) for lbl in single[:5]))


def load_splits(data_cfg, task_type: str, few_shot_seed: int | None = None) -> DataSplits:
    """Read train/validation/test as configured, splitting the training file where needed.

    With ``data.few_shot`` and a ``few_shot_seed``, training and validation keep ``per_class``
    examples of each class (validation as large as training, as a few-shot user would have);
    the test set stays whole.
    """
    read = dict(
        task_type=task_type,
        data_format=data_cfg.format,
        text_column=data_cfg.text_column,
        text_pair_column=data_cfg.text_pair_column,
        label_column=data_cfg.label_column,
        label_delimiter=data_cfg.label_delimiter,
        label_names=data_cfg.label_names,
    )
    train = read_examples(data_cfg.train, **read)
    validation = read_examples(data_cfg.validation, **read) if data_cfg.validation else None
    test = read_examples(data_cfg.test, **read) if data_cfg.test else None
    seed = data_cfg.split.seed
    _warn_missing_looking_labels(train, str(data_cfg.train))
    if data_cfg.few_shot is None:
        _check_class_sizes(train, task_type, (validation is None) + (test is None and validation is None),
                           str(data_cfg.train))
    if validation is None and test is None:
        train, test = split_examples(train, data_cfg.split.test, seed)
        train, validation = split_examples(train, data_cfg.split.validation / (1 - data_cfg.split.test), seed)
    elif validation is None:
        train, validation = split_examples(train, data_cfg.split.validation, seed)
    if data_cfg.max_train_samples and len(train) > data_cfg.max_train_samples:
        train, _ = split_examples(train, 1 - data_cfg.max_train_samples / len(train), seed)
    if data_cfg.few_shot is not None and few_shot_seed is not None:
        if task_type != "classification":
            raise DataError(f"{data_cfg.train}: data.few_shot supports task.type classification only")
        k = data_cfg.few_shot.per_class
        train = sample_per_class(train, k, few_shot_seed, str(data_cfg.train))
        validation = sample_per_class(validation, k, few_shot_seed, str(data_cfg.validation or data_cfg.train),
                                      require=False)
    names = label_names_of(train, task_type, data_cfg.label_names)
    if task_type == "multilabel" and len(names) < 2:
        raise DataError(f"{data_cfg.train}: multi-label data needs at least two distinct labels, found {names}")
    if task_type == "classification" and len(names) < 2:
        raise DataError(f"{data_cfg.train}: classification needs at least two classes, found {names}")
    check_known_labels(validation, names, "validation")
    if test:
        check_known_labels(test, names, "test")
    _warn_duplicates_and_leakage({"train": train, "validation": validation, "test": test or []})
    counts = Counter(label for example in train for label in _labels_of(example))
    return DataSplits(train, validation, test, names, dict(counts))
