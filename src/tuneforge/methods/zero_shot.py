"""Zero-shot classification by label descriptions: no training, only embedding similarity.

Each label gets a description (its name by default, or ``method.label_descriptions``), put
through ``method.template``; a text's scores are the softmax of ``scale`` times its cosine
similarity to each description, with the sentence-embedding backbone doing the embedding.
"""

from __future__ import annotations

from pydantic import Field

from ..errors import ConfigError
from . import METHODS, Method, MethodOptions


class ZeroShotOptions(MethodOptions):
    """Label descriptions (label -> text), a template around them, and the similarity scale."""

    name: str = "zero_shot"
    label_descriptions: dict[str, str] | None = None
    template: str = "{description}"
    scale: float = Field(20.0, gt=0, description="logit = scale * cosine similarity")


def description_texts(options, label_names: list[str]) -> list[str]:
    """The text embedded for each label, in label order."""
    given = options.label_descriptions or {}
    unknown = sorted(set(given) - set(label_names))
    if unknown:
        raise ConfigError(f"method.label_descriptions names unknown labels {unknown}; labels are {label_names}")
    if "{description}" not in options.template:
        raise ConfigError("method.template must contain '{description}'")
    return [options.template.format(description=given.get(name, name)) for name in label_names]


@METHODS.register("zero_shot")
class ZeroShot(Method):
    """Classify by similarity to label descriptions; nothing trains.

    Example:
        >>> tuneforge train configs/sst2_zero_shot.yaml
    """

    Options = ZeroShotOptions
    uses_trainer = False
    trains_weights = False

    def fit(self, model_path, tokenizer, splits, cfg, max_length):
        """Build the classifier; its head rows are the scaled description embeddings."""
        import torch

        from ..fewshot.embedding_classifier import EmbeddingClassifier, encode_texts

        if cfg.task.type != "classification":
            raise ConfigError("zero_shot supports task.type classification only")
        texts = description_texts(cfg.method, splits.label_names)
        model = EmbeddingClassifier.from_backbone(model_path, len(splits.label_names))
        embeddings = encode_texts(model, tokenizer, texts, max_length)  # (labels, width), unit length
        model.set_head(embeddings * cfg.method.scale, torch.zeros(len(texts)))
        return model.eval(), {"label_descriptions": dict(zip(splits.label_names, texts))}

    def load_model(self, model_dir):
        """Reload the embedding classifier of a bundle."""
        from ..fewshot.embedding_classifier import EmbeddingClassifier

        return EmbeddingClassifier.from_pretrained(model_dir)
