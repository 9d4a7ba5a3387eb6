"""Contrastive few-shot fine-tuning, SetFit-style (Tunstall et al. 2022).

1. Sentence pairs from the few labelled examples: for every example and iteration one pair with
   an example of the same label (target similarity 1) and one with another label (0).
2. The sentence encoder is fine-tuned on those pairs with a cosine-similarity loss
   (sentence-transformers' Trainer, itself transformers' Trainer).
3. A logistic-regression head (scikit-learn) is fitted on the new embeddings and copied into
   the linear head of an :class:`EmbeddingClassifier`, so the bundle holds safetensors only.

The ``method`` section carries this recipe's own settings (the ``train`` section's learning rate
and epochs are for gradient fine-tuning of a head and do not apply here).
"""

from __future__ import annotations

import logging
import random
import tempfile

from pydantic import Field

from ..errors import ConfigError
from . import METHODS, Method, MethodOptions, single_label_only

# Contrastive pairs SetFit may use per second of a compare budget share: on one CPU core it trains about
# 15 pairs/s and the rest of the share goes to encoding every training text for the head.
PAIRS_PER_SECOND = 10
FEW_EXAMPLES = 500  # below this, a starter config (tuneforge init) picks SetFit
STARTER_PAIRS = 3000  # the contrastive pairs a starter config allows: about 5 minutes on one core

log = logging.getLogger("tuneforge")


class SetFitOptions(MethodOptions):
    """Pair sampling, the contrastive phase, and the head's regularisation."""

    name: str = "setfit"
    pair_iterations: int = Field(20, ge=1, description="positive + negative pairs drawn per example")
    contrastive_epochs: float = Field(1.0, gt=0)
    learning_rate: float = Field(2e-5, gt=0)
    batch_size: int = Field(16, ge=2)
    head_c: float = Field(1.0, gt=0, description="inverse L2 strength of the logistic-regression head")
    max_pairs: int | None = Field(None, ge=2, description="cap on contrastive pairs (a random sample); "
                                  "the head still fits on every example")


def contrastive_pairs(texts: list[str], labels: list[str], iterations: int, seed: int) -> list[tuple[str, str, float]]:
    """(text, text, target similarity) pairs: per example and iteration one positive and one negative.

    Example:
        >>> contrastive_pairs(["good", "great", "bad"], ["pos", "pos", "neg"], 1, seed=0)[:2]
        [('good', 'great', 1.0), ('good', 'bad', 0.0)]
    """
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    others = {label: [j for name, idx in by_label.items() if name != label for j in idx] for label in by_label}
    pairs = []
    for _ in range(iterations):
        for i, label in enumerate(labels):
            same = by_label[label]
            j = i
            if len(same) > 1:
                while j == i:
                    j = rng.choice(same)
            pairs.append((texts[i], texts[j], 1.0))
            if others[label]:
                pairs.append((texts[i], texts[rng.choice(others[label])], 0.0))
    rng.shuffle(pairs)
    return pairs


def _sentence_transformers():
    try:
        import sentence_transformers
    except ImportError:
        raise ConfigError("method setfit needs sentence-transformers: pip install sentence-transformers==6.2.0") from None
    return sentence_transformers


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


@METHODS.register("setfit")
class SetFit(Method):
    """Contrastive encoder fine-tuning on sentence pairs, then a logistic-regression head."""

    Options = SetFitOptions
    uses_trainer = False
    compared_by_default = True

    def check_task(self, task, cfg) -> None:
        """Single-text classification into one label."""
        single_label_only("setfit", task, cfg)

    def starter_choice(self, task, n_train: int, data: dict) -> tuple[str, dict, float | None] | None:
        """The pick for single-text classification with under ``FEW_EXAMPLES`` training examples."""
        if not task.single_label or data.get("text_pair_column") is not None or n_train >= FEW_EXAMPLES:
            return None
        pairs = min(20 * n_train, STARTER_PAIRS)
        return (f"{n_train} training examples, under {FEW_EXAMPLES}: SetFit learns from pairs of examples, which "
                f"makes more of few labels than fine-tuning the whole model does; {pairs} pairs take about "
                f"{_minutes(pairs / PAIRS_PER_SECOND)} on one CPU core. With more data, "
                "method: {name: full} fine-tunes everything", {"max_pairs": pairs}, None)

    def compare_options(self, share_seconds: float) -> dict:
        """Cap the contrastive pairs so that the phase fits the share (about 10 pairs/s on one core,
        the rest of the share goes to encoding the training texts for the head)."""
        return {"pair_iterations": 20, "max_pairs": max(64, int(share_seconds * PAIRS_PER_SECOND))}

    def fit(self, model_path, tokenizer, splits, cfg, max_length):
        """Fine-tune the encoder contrastively, fit the head, return the classifier."""
        import torch
        from datasets import Dataset
        from sklearn.linear_model import LogisticRegression

        from ..fewshot.embedding_classifier import EmbeddingClassifier, encode_texts

        st = _sentence_transformers()
        from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

        from ..precision import resolve_precision
        from ..training.arguments import trainer_arguments

        options: SetFitOptions = cfg.method
        texts = [e["text"] for e in splits.train]
        labels = [e["label"] for e in splits.train]
        pairs = contrastive_pairs(texts, labels, options.pair_iterations, cfg.train.seed)
        if options.max_pairs is not None and len(pairs) > options.max_pairs:
            pairs = pairs[: options.max_pairs]  # already shuffled: a random sample
        log.info("setfit: %d contrastive pairs from %d examples", len(pairs), len(texts))
        encoder = st.SentenceTransformer(model_path, device="cpu", trust_remote_code=False)
        encoder.max_seq_length = max_length
        with tempfile.TemporaryDirectory(prefix="tuneforge-setfit-") as scratch:
            args = trainer_arguments(
                scratch, epochs=options.contrastive_epochs, learning_rate=options.learning_rate,
                batch_size=options.batch_size, seed=cfg.train.seed,
                precision=resolve_precision(cfg.train.precision).name, arguments_class=st.SentenceTransformerTrainingArguments,
                warmup_steps=0.1, save_strategy="no", logging_steps=max(1, cfg.train.logging_steps),
            )
            dataset = Dataset.from_dict({"sentence1": [a for a, _, _ in pairs], "sentence2": [b for _, b, _ in pairs],
                                         "score": [s for _, _, s in pairs]})
            trainer = st.SentenceTransformerTrainer(model=encoder, args=args, train_dataset=dataset,
                                                    loss=CosineSimilarityLoss(encoder))
            trainer.train()
        model = EmbeddingClassifier(encoder[0].auto_model, len(splits.label_names))
        features = encode_texts(model, tokenizer, texts, max_length).numpy()
        head = LogisticRegression(C=options.head_c, max_iter=2000).fit(features, labels)
        weight, bias = _head_for(head, splits.label_names)
        model.set_head(torch.tensor(weight, dtype=torch.float32), torch.tensor(bias, dtype=torch.float32))
        return model.eval(), {"contrastive_pairs": len(pairs)}

    def model_kind(self, options, merged: bool) -> str:
        """Its bundles hold the embedding classifier (encoder + logistic-regression head)."""
        return "embedding_classifier"


def _head_for(head, label_names: list[str]):
    """Logistic regression as (labels, width) weights and (labels,) biases in label order.

    A binary model has one row w (log-odds of ``classes_[1]``); logits [0, w.x + b] give the same
    probabilities under softmax.
    """
    import numpy as np

    classes = list(head.classes_)
    width = head.coef_.shape[1]
    weight, bias = np.zeros((len(label_names), width)), np.zeros(len(label_names))
    if len(classes) == 2:
        row = label_names.index(classes[1])
        weight[row], bias[row] = head.coef_[0], head.intercept_[0]
    else:
        for k, name in enumerate(classes):
            weight[label_names.index(name)], bias[label_names.index(name)] = head.coef_[k], head.intercept_[k]
    return weight, bias
