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
