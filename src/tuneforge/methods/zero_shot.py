"""Zero-shot classification by label descriptions: no training.

Each label gets a description (its name by default, or ``method.label_descriptions``), put
through ``method.template``. By default a text's scores are the softmax of ``scale`` times its
cosine similarity to each description, with the sentence-embedding backbone doing the
embedding. With ``method.nli_model`` (an NLI cross-encoder folder or hub id the user supplies),
each description becomes a hypothesis (template default ``"This example is {description}."``)
and the scores are the softmax over labels of its entailment logits.
"""

from __future__ import annotations

from pydantic import Field

from ..errors import ConfigError
from . import METHODS, Method, MethodOptions, single_label_only


class ZeroShotOptions(MethodOptions):
    """Label descriptions (label -> text), a template around them, and the similarity scale."""

    name: str = "zero_shot"
    label_descriptions: dict[str, str] | None = None
    template: str | None = Field(None, description="default: '{description}'; with nli_model 'This example is {description}.'")
    scale: float = Field(20.0, gt=0, description="logit = scale * cosine similarity")
    nli_model: str | None = Field(None, description="an NLI cross-encoder (folder or hub id) to score with instead")


def description_texts(options, label_names: list[str]) -> list[str]:
    """The text embedded for each label, in label order."""
    given = options.label_descriptions or {}
    unknown = sorted(set(given) - set(label_names))
    if unknown:
        raise ConfigError(f"method.label_descriptions names unknown labels {unknown}; labels are {label_names}")
    template = options.template or ("This example is {description}." if options.nli_model else "{description}")
    if "{description}" not in template:
        raise ConfigError("method.template must contain '{description}'")
    return [template.format(description=given.get(name, name)) for name in label_names]


@METHODS.register("zero_shot")
class ZeroShot(Method):
    """Classify by similarity to label descriptions; nothing trains.

    Example:
        >>> tuneforge train configs/sst2_zero_shot.yaml
    """

    Options = ZeroShotOptions
    uses_trainer = False
    trains_weights = False

    def check_task(self, task, cfg) -> None:
        """One label per text, from its description."""
        single_label_only("zero_shot", task, cfg, pairs=True)

    def can_export(self, options: ZeroShotOptions) -> bool:
        """The embedding classifier exports; the NLI cross-encoder builds its pairs in Python."""
        return not options.nli_model

    def fit(self, model_path, tokenizer, splits, cfg, max_length):
        """Build the classifier; its head rows are the scaled description embeddings."""
        import torch

        from ..fewshot.embedding_classifier import EmbeddingClassifier, encode_texts

        texts = description_texts(cfg.method, splits.label_names)
        if cfg.method.nli_model:
            return self._nli(cfg.method.nli_model, texts, splits.label_names)
        model = EmbeddingClassifier.from_backbone(model_path, len(splits.label_names))
        embeddings = encode_texts(model, tokenizer, texts, max_length)  # (labels, width), unit length
        model.set_head(embeddings * cfg.method.scale, torch.zeros(len(texts)))
        return model.eval(), {"label_descriptions": dict(zip(splits.label_names, texts))}

    def _nli(self, nli_model: str, hypotheses: list[str], label_names: list[str]):
        """The NLI cross-encoder with one hypothesis per label; it brings its own tokenizer."""
        from ..backbone import resolve_backbone
        from ..model_files import load_tokenizer
        from ..fewshot.nli_zero_shot import NLIZeroShotClassifier

        path = resolve_backbone(nli_model)
        try:
            model = NLIZeroShotClassifier.from_nli_model(path, load_tokenizer(path), hypotheses)
        except ValueError as exc:
            raise ConfigError(f"method.nli_model {nli_model}: {exc}") from None
        return model, {"label_descriptions": dict(zip(label_names, hypotheses)), "nli_model": nli_model}

    def model_kind(self, options: ZeroShotOptions, merged: bool) -> str:
        """The NLI cross-encoder, or the embedding classifier with description rows as its head."""
        return "nli_classifier" if options.nli_model else "embedding_classifier"

    def load_tokenizer(self, options: ZeroShotOptions, model_path: str):
        """The NLI model brings its own tokenizer (the bundle keeps it); else the backbone's."""
        from ..backbone import resolve_backbone
        from ..model_files import load_tokenizer

        return load_tokenizer(resolve_backbone(options.nli_model) if options.nli_model else model_path)
