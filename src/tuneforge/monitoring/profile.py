"""The reference profile a bundle keeps of its training data (``reference_profile.json``): what the
server's drift gauges compare recent traffic with.

- ``labels``: the training label distribution; ``predicted_labels``: the model's predicted labels on
  the validation split (what traffic's predicted labels are compared with: a model's own bias is not
  drift);
- ``confidence``: the distribution of the top score on the validation split (10 bins);
- ``length``: the distribution of text lengths in words on the training split;
- ``embeddings``: a sample of sentence embeddings (the mean of the model's input word embeddings over a
  text's tokens, unit length) of training texts, the MMD bandwidth, and the MMD a window of validation
  texts reaches by chance (``mmd_threshold``: the largest of 20 draws, times 1.5).

Example:
    >>> profile = build_profile(predictor, train, validation)
    >>> profile["labels"]["positive"]
    0.557
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from .drift import median_bandwidth, mmd, shares

PROFILE_FILE = "reference_profile.json"
CONFIDENCE_EDGES = [i / 10 for i in range(11)]
LENGTH_EDGES = [0, 4, 8, 12, 16, 20, 25, 30, 40, 60, 100, 10_000]
SAMPLE = 300
WINDOW = 200


class SentenceSketch:
    """Cheap sentence embeddings for drift: the mean input word embedding of a text's tokens, unit length
    (no forward pass; the same on every backend)."""

    def __init__(self, tokenizer, matrix: np.ndarray) -> None:
        self.tokenizer, self.matrix = tokenizer, np.asarray(matrix, dtype=np.float32)

    def __call__(self, texts: list[str]) -> np.ndarray:
        """One unit vector per text."""
        ids = self.tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=256)["input_ids"]
        out = np.zeros((len(texts), self.matrix.shape[1]), dtype=np.float32)
        for row, tokens in enumerate(ids):
            tokens = [t for t in tokens if t < len(self.matrix)]
            if tokens:
                out[row] = self.matrix[tokens].mean(axis=0)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-8)


def profiled(task, examples: list[dict[str, Any]]) -> bool:
    """Whether a profile applies: single- or multi-label text classification."""
    return task.logit_kind in ("softmax", "sigmoid") and bool(examples) and isinstance(examples[0].get("text"), str)


def word_count(text: str) -> int:
    """Words in a text, as the length profile counts them."""
    return len(text.split())


def top_score(prediction: dict[str, Any]) -> float:
    """The confidence a prediction carries: its top score."""
    scores = prediction.get("scores") or {}
    return float(prediction.get("score", max(scores.values(), default=0.0)))


def build_profile(predictor, train: list[dict[str, Any]], validation: list[dict[str, Any]], seed: int = 0
                  ) -> dict[str, Any] | None:
    """The reference profile of a trained text classifier (None for other tasks)."""
    if not profiled(predictor.task, train) or not hasattr(predictor.model, "get_input_embeddings"):
        return None
    rng = random.Random(seed)
    names = predictor.label_names
    counts = {n: 0 for n in names}
    for e in train:
        for label in predictor.task.labels_of(e):
            if label in counts:
                counts[label] += 1
    total = max(1, sum(counts.values()))
    held_out = validation or train
    val_sample = rng.sample(held_out, min(len(held_out), 2000))
    val_predictions = predictor.predict(val_sample)
    confidences = [top_score(p) for p in val_predictions]
    predicted = {n: 0 for n in names}
    for p in val_predictions:
        for label in p["labels"] if "labels" in p else [p.get("label")]:
            if label in predicted:
                predicted[label] += 1
    predicted_total = max(1, sum(predicted.values()))
    sketch = SentenceSketch(predictor.tokenizer, predictor.model.get_input_embeddings().weight.detach().float().numpy())
    reference = sketch([e["text"] for e in rng.sample(train, min(len(train), SAMPLE))])
    bandwidth = median_bandwidth(reference)
    draws = [mmd(reference, sketch([e["text"] for e in rng.sample(held_out, min(len(held_out), WINDOW))]), bandwidth)
             for _ in range(20)]
    return {
        "version": 1, "labels": {n: round(c / total, 6) for n, c in counts.items()},
        "predicted_labels": {n: round(c / predicted_total, 6) for n, c in predicted.items()},
        "confidence_edges": CONFIDENCE_EDGES, "confidence": [round(s, 6) for s in shares(confidences, CONFIDENCE_EDGES)],
        "length_edges": LENGTH_EDGES,
        "length": [round(s, 6) for s in shares([word_count(e["text"]) for e in train], LENGTH_EDGES)],
        "embedding": "mean input word embedding of the text's tokens, unit length",
        "embeddings": np.round(reference, 5).tolist(), "bandwidth": round(bandwidth, 6),
        "mmd_null_max": round(max(draws), 6), "mmd_threshold": round(1.5 * max(draws), 6), "window": WINDOW,
    }
