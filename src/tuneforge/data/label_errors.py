"""Likely label errors: out-of-sample probabilities from cross-validating fast models on the backbone's
sentence embeddings (logistic regression, averaged with a 10-nearest-neighbour vote), ranked by
``cleanlab``.

The neighbour vote matters: on SST-2 with 5% of the labels flipped, logistic regression alone ranked
49.7% flipped examples among the top k (k = number flipped), the average with the neighbour vote 66.9%
(``bench/label_errors.py``): near-copies of a mislabelled text (SST-2's phrases come in families)
outvote it.

Every example gets a label-quality score (cleanlab's self-confidence: the out-of-sample probability of
its given label); cleanlab's confident-learning filter says which examples are likely wrong. The
suspects are listed worst first with the label the model suggests.

Example:
    >>> result = find_label_errors(texts, labels, model_path)
    >>> result.suspects[0]["given"], result.suspects[0]["suggested"]
    ('positive', 'negative')
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError

log = logging.getLogger(__name__)

FOLDS = 5
NEIGHBOURS = 10
MAX_EMBED_LENGTH = 128  # tokens per text for the embeddings (a label rarely hides past them)


def _cleanlab():
    try:
        import cleanlab.filter
        import cleanlab.rank
    except ImportError:
        raise ConfigError("the label-error search needs cleanlab: pip install 'tuneforge[data]'") from None
    return cleanlab


def embed_texts(texts: list[str], model_path: str, max_length: int = MAX_EMBED_LENGTH, batch_size: int = 128,
                progress: bool = True) -> np.ndarray:
    """Sentence embeddings (mean-pooled, L2-normalised) of ``texts`` from the backbone at ``model_path``."""
    from sentence_transformers import SentenceTransformer

    from ..logs import quiet_libraries

    quiet_libraries()
    encoder = SentenceTransformer(model_path, device="cpu", trust_remote_code=False)
    encoder.max_seq_length = max_length
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # batches of similar length pad less
    vectors = encoder.encode([texts[i] for i in order], batch_size=batch_size, show_progress_bar=progress,
                             convert_to_numpy=True, normalize_embeddings=True)
    out = np.empty_like(vectors)
    out[order] = vectors
    return out


def pair_features(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Features of a text pair from the two embeddings: (u, v, |u - v|, u * v), as SBERT classifies pairs."""
    return np.concatenate([first, second, np.abs(first - second), first * second], axis=1)


@dataclass
class LabelErrors:
    """The search's result: one quality score per example, the flagged examples worst first, timings."""

    quality: np.ndarray  # per example: out-of-sample probability of its given label
    suggested: list[str]  # per example: the label the cross-validated model prefers
    ranked: list[int]  # every example, lowest quality first
    flagged: list[int]  # the examples cleanlab's filter flags, lowest quality first
    accuracy: float  # of the cross-validated model against the given labels
    seconds: dict[str, float] = field(default_factory=dict)

    def suspects(self, examples: list[dict[str, Any]], texts: list[str], top: int = 20) -> list[dict[str, Any]]:
        """The ``top`` flagged examples as rows: where, text, given label, suggested label, quality."""
        return [{"index": i, "where": examples[i].get("where", ""), "text": texts[i], "given": examples[i]["label"],
                 "suggested": self.suggested[i], "quality": round(float(self.quality[i]), 4)}
                for i in self.flagged[:top]]


def cross_validated_probabilities(features: np.ndarray, labels: list[str], label_names: list[str],
                                  folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Out-of-sample class probabilities of logistic regression on ``features``, by stratified k-fold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    y = np.array([label_names.index(label) for label in labels])
    smallest = np.bincount(y, minlength=len(label_names)).min()
    folds = min(folds, int(smallest))
    if folds < 2:
        rare = label_names[int(np.bincount(y, minlength=len(label_names)).argmin())]
        raise DataError(f"label {rare!r} has fewer than 2 examples: too few to cross-validate the label-error search")
    model = LogisticRegression(max_iter=2000, C=4.0)
    return cross_val_predict(model, features, y, cv=StratifiedKFold(folds, shuffle=True, random_state=seed),
                             method="predict_proba")


def neighbour_probabilities(features: np.ndarray, labels: list[str], label_names: list[str], folds: int = FOLDS,
                            seed: int = 0, k: int = NEIGHBOURS, chunk: int = 2048) -> np.ndarray:
    """Out-of-sample class probabilities from a vote of each example's ``k`` nearest training neighbours
    (cosine similarity of L2-normalised features, weighted by 1 / cosine distance), by stratified k-fold."""
    import torch
    from sklearn.model_selection import StratifiedKFold

    y = np.array([label_names.index(label) for label in labels])
    folds = max(2, min(folds, int(np.bincount(y, minlength=len(label_names)).min())))
    x = torch.nn.functional.normalize(torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)), dim=1)
    probs = np.zeros((len(y), len(label_names)))
    for fit, held in StratifiedKFold(folds, shuffle=True, random_state=seed).split(features, y):
        reference, reference_y = x[torch.from_numpy(fit)], y[fit]
        kk = min(k, len(fit))
        for start in range(0, len(held), chunk):
            rows = held[start:start + chunk]
            with torch.inference_mode():  # matmul and top-k in torch: threaded, no full sort
                sims, nearest = (x[torch.from_numpy(rows)] @ reference.T).topk(kk, dim=1)
            sims, nearest = sims.numpy().astype(np.float64), nearest.numpy()
            weights = 1.0 / np.maximum(1.0 - sims, 1e-6)
            votes = np.zeros((len(rows), len(label_names)))
            np.add.at(votes, (np.repeat(np.arange(len(rows)), kk), reference_y[nearest].ravel()), weights.ravel())
            probs[rows] = votes / votes.sum(axis=1, keepdims=True)
    probs = np.clip(probs, 1e-3, 1.0)
    return probs / probs.sum(axis=1, keepdims=True)


def find_label_errors(examples: list[dict[str, Any]], model_path: str, folds: int = FOLDS, seed: int = 0,
                      progress: bool = True) -> LabelErrors:
    """Rank single-label text examples (``text``, optional ``text_pair``, ``label``) by how likely their label
    is wrong."""
    cleanlab = _cleanlab()
    labels = [e["label"] for e in examples]
    if not all(isinstance(label, str) for label in labels):
        raise DataError("the label-error search reads single-label classification data")
    names = sorted(set(labels))
    if len(names) < 2:
        raise DataError("the label-error search needs at least two labels")
    started = time.perf_counter()
    features = embed_texts([e["text"] for e in examples], model_path, progress=progress)
    if any(e.get("text_pair") for e in examples):
        second = embed_texts([e.get("text_pair") or "" for e in examples], model_path, progress=progress)
        features = pair_features(features, second)
    embedded = time.perf_counter()
    probs = (cross_validated_probabilities(features, labels, names, folds, seed)
             + neighbour_probabilities(features, labels, names, folds, seed)) / 2
    fitted = time.perf_counter()
    y = np.array([names.index(label) for label in labels])
    quality = cleanlab.rank.get_label_quality_scores(y, probs, method="self_confidence")
    flagged = cleanlab.filter.find_label_issues(y, probs, return_indices_ranked_by="self_confidence")
    ranked = np.argsort(quality, kind="stable")
    suggested = [names[i] for i in probs.argmax(axis=1)]
    return LabelErrors(quality=quality, suggested=suggested, ranked=[int(i) for i in ranked],
                       flagged=[int(i) for i in flagged], accuracy=float((probs.argmax(axis=1) == y).mean()),
                       seconds={"embed": round(embedded - started, 2), "cross_validate": round(fitted - embedded, 2),
                                "rank": round(time.perf_counter() - fitted, 2)})
