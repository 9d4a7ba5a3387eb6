"""What the ``data`` section asks done to the splits before training: personal data masked in every
split (``data.mask_pii``), augmented copies added to the training split only (``data.augment``), and the
quick data check, whose findings are warnings."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def mask_splits(splits, types: list[str], ner_bundle=None) -> dict[str, int]:
    """Mask personal data in the texts of every split in place; returns examples changed per split."""
    from .pii import PiiMasker

    masker = PiiMasker(types, ner_bundle)
    named = {"train": splits.train, "validation": splits.validation, "test": splits.test or []}
    if any("text" not in e for part in named.values() for e in part[:1]):
        from ..errors import ConfigError

        raise ConfigError("data.mask_pii masks text examples (text and text_pair); this task's examples are not")
    changed = {name: masker.mask_examples(part) for name, part in named.items()}
    log.info("data.mask_pii (%s): changed %s examples", ", ".join(types),
             ", ".join(f"{n} of {len(named[name])} {name}" for name, n in changed.items() if named[name]))
    return changed


def augment_training(train: list[dict[str, Any]], augment, model_path: str) -> list[dict[str, Any]]:
    """The training split plus ``data.augment``'s copies."""
    from .augment import (
        AugmentSettings,
        augment_examples,
        check_operations,
        synonym_source,
    )

    settings = AugmentSettings(factor=augment.factor, operations=list(augment.operations), alpha=augment.alpha,
                               synonyms=str(augment.synonyms) if augment.synonyms else None)
    entity_data = bool(train) and "tokens" in train[0]
    check_operations(settings.operations, entity_data)
    out = train
    if settings.factor:
        out = augment_examples(train, settings, synonym_source(settings, model_path), seed=augment.seed)
    if augment.paraphrase:
        if entity_data or not train or not isinstance(train[0].get("text"), str):
            from ..errors import ConfigError

            raise ConfigError("data.augment.paraphrase rewrites text examples; entity data takes its operations")
        from .paraphrase import paraphrase_examples

        p = augment.paraphrase
        out = out + paraphrase_examples(train, p.model, model_path, p.copies, augment.seed, p.min_similarity,
                                        str(p.filter_bundle) if p.filter_bundle else None)
    return out


def quick_data_check(task, splits, tokenizer, max_length: int) -> None:
    """The data check's quick form on the splits ``train`` uses; findings become warnings. Image data is
    not text, so it is not checked here."""
    if task.reads_images:
        return
    from .check import quick_check

    quick_check({"train": [e for e in splits.train if "augmented" not in e], "validation": splits.validation,
                 "test": splits.test or []}, tokenizer, max_length, windowed=task.windows_long_inputs)


def apply_data_section(data_cfg, splits, model_path: str) -> None:
    """``data.mask_pii`` on every split, then ``data.augment`` on the training split, in place."""
    if data_cfg.mask_pii:
        mask_splits(splits, list(data_cfg.mask_pii), data_cfg.pii_ner_bundle)
    if data_cfg.augment:
        splits.train = augment_training(splits.train, data_cfg.augment, model_path)
