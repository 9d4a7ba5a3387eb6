"""In-context few-shot classification with a decoder model (``model.name``: any causal LM folder).

k demonstrations per class are drawn from the training data (with ``train.seed``), written with
``method.template`` and put before each query; labels are scored by the likelihood of their
verbalizer word, with contextual calibration unless ``method.calibrate`` is off. Nothing trains.
"""

from __future__ import annotations

import logging
import random

from pydantic import Field, field_validator

from ..errors import ConfigError
from . import METHODS, Method, MethodOptions, single_label_only

log = logging.getLogger("tuneforge")


class InContextOptions(MethodOptions):
    """Template, separator, label words, demonstrations per class, and calibration."""

    name: str = "in_context"
    template: str = "Input: {text}\nLabel: {label}"
    separator: str = "\n\n"
    verbalizer: dict[str, str] | None = Field(None, description="label -> label word; default: the label name")
    shots_per_class: int = Field(4, ge=0)
    calibrate: bool = True
    content_free: list[str] = Field(default_factory=lambda: ["N/A", "", "[MASK]"], min_length=1)

    @field_validator("template")
    @classmethod
    def _text_then_label(cls, value: str) -> str:
        if value.count("{text}") != 1 or value.count("{label}") != 1 or value.index("{text}") > value.index("{label}"):
            raise ValueError("method.template needs one {text} followed by one {label}")
        return value


def draw_demonstrations(train: list[dict], shots_per_class: int, seed: int) -> list[tuple[str, str]]:
    """Up to ``shots_per_class`` (text, label) pairs per label, in a seeded random order.

    Example:
        >>> draw_demonstrations([{"text": "a", "label": "x"}, {"text": "b", "label": "y"}], 1, seed=0)
        [('b', 'y'), ('a', 'x')]
    """
    rng = random.Random(seed)
    by_label: dict[str, list[str]] = {}
    for example in train:
        by_label.setdefault(example["label"], []).append(example["text"])
    chosen = [(text, label) for label in sorted(by_label)
              for text in rng.sample(by_label[label], min(shots_per_class, len(by_label[label])))]
    rng.shuffle(chosen)
    return chosen


@METHODS.register("in_context")
class InContext(Method):
    """Few-shot by demonstrations in the prompt of a causal LM, with contextual calibration.

    Example:
        >>> tuneforge train config.yaml model.name=path/to/causal-lm method.name=in_context
    """

    Options = InContextOptions
    uses_trainer = False

    def check_task(self, task, cfg) -> None:
        """Single-text classification into one label."""
        single_label_only("in_context", task, cfg)

    def can_export(self, options) -> bool:
        """No: the prompt is assembled in Python, per row."""
        return False
    trains_weights = False

    def fit(self, model_path, tokenizer, splits, cfg, max_length):
        """Build the prompt from demonstrations, calibrate, return the classifier."""
        from ..fewshot.in_context import InContextClassifier, build_spec
        from ..model_files import load_config, load_model

        options: InContextOptions = cfg.method
        config = load_config(model_path)
        if not any(a.endswith("ForCausalLM") or a.endswith("LMHeadModel") for a in (config.architectures or [])):
            raise ConfigError(f"in_context needs a causal (decoder) language model; {cfg.model.name} is "
                              f"{', '.join(config.architectures or [config.model_type])}")
        words = options.verbalizer or {name: name for name in splits.label_names}
        if sorted(words) != sorted(splits.label_names):
            raise ConfigError(f"method.verbalizer must give a word for exactly the labels {splits.label_names}")
        if tokenizer.pad_token is None:  # batching the queries needs one; the bundle keeps it
            tokenizer.pad_token = tokenizer.eos_token
        demonstrations = draw_demonstrations(splits.train, options.shots_per_class, cfg.train.seed)
        spec = build_spec(tokenizer, options.template, options.separator, demonstrations, words, splits.label_names)
        limit = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None) or 1024
        if len(spec["context_ids"]) + 16 > limit:
            raise ConfigError(f"the {len(demonstrations)} demonstrations take {len(spec['context_ids'])} tokens and "
                              f"{cfg.model.name} reads {limit}: lower method.shots_per_class")
        model = InContextClassifier(load_model("AutoModelForCausalLM", model_path), spec,
                                    tokenizer).eval()
        facts = {"demonstrations": len(demonstrations), "prompt_tokens": len(spec["context_ids"])}
        if options.calibrate:
            prior = model.calibrate(options.content_free)
            facts["calibration_prior"] = dict(zip(splits.label_names, [round(p, 4) for p in prior]))
            log.info("in_context: content-free label probabilities %s", facts["calibration_prior"])
        return model, facts

    def model_kind(self, options, merged: bool) -> str:
        """Its bundles hold the causal LM and its demonstrations prompt."""
        return "in_context_classifier"
