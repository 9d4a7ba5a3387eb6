"""The reference profile a bundle keeps (``reference_profile.json``): what the server's drift gauges
compare recent traffic with. Traffic is compared with the run's evaluation split (the test split, else
validation): the data the user holds up as what the model will meet. Training data can differ from it
by construction (SST-2 trains on parse-tree phrases and is evaluated on whole sentences), and would
make in-domain traffic look drifted.

- ``labels``: the training label distribution (for reference); ``predicted_labels``: the labels the
  model predicts on the evaluation split (what traffic's predicted labels are compared with: a model's
  own bias is not drift);
- ``confidence``: the distribution of the top score on the evaluation split (10 bins);
- ``length``: the distribution of text lengths in words on the evaluation split;
- ``embeddings``: sentence sketches (the mean of the model's input word embeddings over a text's tokens,
  unit length) of up to 300 texts of one half of the evaluation split, the MMD bandwidth, and the MMD
  that windows of 200 texts drawn with replacement from the other half reach against them
  (``mmd_threshold``: the largest of 20 draws plus three standard deviations of the draws, at least 1e-4).

Example:
    >>> profile = build_profile(predictor, train, test, test_predictions)
    >>> profile["labels"]["positive"]
    0.557
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from .drift import median_bandwidth, mmd, psi, shares

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


def predicted_labels(prediction: dict[str, Any]) -> list[str]:
    """The labels a prediction gives: its ``labels`` (multi-label) or its one ``label``."""
    chosen = prediction["labels"] if "labels" in prediction else [prediction.get("label")]
    return [str(label) for label in chosen or [] if label is not None]


def label_shares(label_lists, names: list[str]) -> dict[str, float]:
    """The share of each of ``names`` among all the labels in ``label_lists``."""
    counts = {n: 0 for n in names}
    for labels in label_lists:
        for label in labels:
            if label in counts:
                counts[label] += 1
    total = max(1, sum(counts.values()))
    return {n: round(c / total, 6) for n, c in counts.items()}


def window_scores(profile: dict[str, Any], names: list[str], label_lists, confidences, texts,
                  sketches=None) -> dict[str, float]:
    """The drift scores of a window of traffic against ``profile``: PSI of its predicted labels, top
    scores and lengths, and (given the window's sentence sketches) the MMD against the reference sample."""
    shares_now = label_shares(label_lists, names)
    scores = {
        "labels": psi([profile["predicted_labels"].get(n, 0.0) for n in names], [shares_now[n] for n in names]),
        "confidence": psi(profile["confidence"], shares(confidences, profile["confidence_edges"])),
        "length": psi(profile["length"], shares([word_count(t) for t in texts], profile["length_edges"])),
    }
    if sketches is not None:
        reference = np.asarray(profile["embeddings"], dtype=np.float32)
        scores["embedding"] = mmd(reference, sketches[-profile.get("window", WINDOW):], profile["bandwidth"])
    return scores


def build_profile(predictor, train: list[dict[str, Any]], reference: list[dict[str, Any]],
                  predictions: list[dict[str, Any]] | None = None, seed: int = 0) -> dict[str, Any] | None:
    """The reference profile of a trained text classifier against ``reference`` (the evaluation split;
    ``predictions``: the model's on it, computed when not given); None for other tasks."""
    if not profiled(predictor.task, train) or not hasattr(predictor.model, "get_input_embeddings"):
        return None
    reference = reference or train
    if predictions is None or len(predictions) != len(reference):
        predictions = predictor.predict(reference)
    rng = random.Random(seed)
    names = predictor.label_names

    texts = [e["text"] for e in reference]
    order = rng.sample(range(len(texts)), len(texts))
    half_a, half_b = order[: len(order) // 2] or order, order[len(order) // 2:] or order
    sketch = SentenceSketch(predictor.tokenizer, predictor.model.get_input_embeddings().weight.detach().float().numpy())
    sample = sketch([texts[i] for i in half_a[:SAMPLE]])
    bandwidth = median_bandwidth(sample)
    # windows drawn with replacement, as traffic repeats itself: a conservative null
    draws = [mmd(sample, sketch([texts[i] for i in rng.choices(half_b, k=WINDOW)]), bandwidth) for _ in range(20)]
    return {
        "version": 2, "labels": label_shares((predictor.task.labels_of(e) for e in train), names),
        "predicted_labels": label_shares((predicted_labels(p) for p in predictions), names),
        "confidence_edges": CONFIDENCE_EDGES,
        "confidence": [round(s, 6) for s in shares([top_score(p) for p in predictions], CONFIDENCE_EDGES)],
        "length_edges": LENGTH_EDGES, "length": [round(s, 6) for s in shares([word_count(t) for t in texts],
                                                                            LENGTH_EDGES)],
        "reference_examples": len(reference),
        "embedding": "mean input word embedding of the text's tokens, unit length",
        "embeddings": np.round(sample, 5).tolist(), "bandwidth": round(bandwidth, 6),
        "mmd_null_max": round(max(draws), 6),
        "mmd_threshold": round(max(max(draws) + 3 * float(np.std(draws)), 1e-4), 6), "window": WINDOW,
    }
