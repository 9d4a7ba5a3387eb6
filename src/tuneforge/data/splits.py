"""Split one labelled file into train/validation/test, stratified by label where possible."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

log = logging.getLogger(__name__)


def _stratum(example: dict[str, Any]) -> str | None:
    label = example.get("label")
    if isinstance(label, str):
        return label
    return None


def split_examples(
    examples: list[dict[str, Any]], fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return (rest, held_out) with ``fraction`` of the examples held out.

    Stratified by label for single-label data when every class has at least two
    examples; otherwise a plain shuffled split.

    Example:
        >>> rest, held = split_examples(examples, 0.1, seed=42)
    """
    from sklearn.model_selection import train_test_split

    if len(examples) < 3:
        from ..errors import DataError

        raise DataError(f"only {len(examples)} examples: too few to split into train/validation/test")
    strata = [_stratum(e) for e in examples]
    stratify = None
    if all(s is not None for s in strata):
        counts = Counter(strata)
        n_held = max(1, round(fraction * len(examples)))
        if min(counts.values()) >= 2 and n_held >= len(counts) and len(examples) - n_held >= len(counts):
            stratify = strata
        else:
            log.warning("some classes are too rare for a stratified split; splitting at random")
    indices = list(range(len(examples)))
    rest, held = train_test_split(indices, test_size=fraction, random_state=seed, stratify=stratify)
    return [examples[i] for i in sorted(rest)], [examples[i] for i in sorted(held)]


def sample_per_class(examples: list[dict[str, Any]], per_class: int, seed: int, source: str,
                     require: bool = True) -> list[dict[str, Any]]:
    """``per_class`` examples of each single label, drawn with ``seed`` (kept in file order).

    With ``require`` a class with fewer examples is an error naming it; without, it keeps all it has.

    Example:
        >>> few = sample_per_class(train, 8, seed=0, source="train.tsv")
    """
    import random

    from ..errors import DataError

    by_label: dict[str, list[int]] = {}
    for i, example in enumerate(examples):
        label = example.get("label")
        if not isinstance(label, str):
            raise DataError(f"{source}: data.few_shot needs single-label classification data")
        by_label.setdefault(label, []).append(i)
    rng = random.Random(seed)
    chosen: list[int] = []
    for label in sorted(by_label):
        indices = by_label[label]
        if len(indices) < per_class and require:
            raise DataError(f"{source}: data.few_shot.per_class={per_class} but label {label!r} has only {len(indices)} examples")
        chosen += rng.sample(indices, min(per_class, len(indices)))
    return [examples[i] for i in sorted(chosen)]
