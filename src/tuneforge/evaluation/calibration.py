"""Calibration: does a model's confidence match how often it is right?

A model that says 0.9 should be right about nine times in ten. ``calibration`` bins
predictions by confidence and compares each bin's mean confidence with its accuracy;
the expected calibration error (ECE) is the gap averaged over bins, weighted by how
many predictions fall in each bin. The per-bin lists feed a reliability diagram.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def calibration(confidences: Sequence[float], correct: Sequence[bool], bins: int = 10) -> dict[str, Any]:
    """Expected calibration error and per-bin confidence/accuracy/count for a reliability diagram.

    Bins split [0, 1] into ``bins`` equal widths; bin ``i`` holds confidences in
    ``[edges[i], edges[i + 1])`` and the last bin also holds 1.0. Empty bins report
    ``None`` for confidence and accuracy (so the dict stays JSON-serialisable) and
    count 0; they add nothing to the ECE.

    Why: accuracy says how often a model is right; calibration says whether its
    scores can be trusted as probabilities (for thresholds, abstaining, triage).

    Example:
        >>> result = calibration([0.9, 0.9, 0.6, 0.6], [True, False, True, True])
        >>> round(result["ece"], 3)  # (2 * |0.9 - 0.5| + 2 * |0.6 - 1.0|) / 4
        0.4
    """
    conf = np.asarray(confidences, dtype=float).reshape(-1)
    hits = np.asarray(correct, dtype=float).reshape(-1)
    if conf.shape != hits.shape:
        raise ValueError(f"confidences ({conf.size}) and correct ({hits.size}) differ in length")
    if conf.size == 0:
        raise ValueError("calibration needs at least one prediction")
    if bins < 1:
        raise ValueError(f"bins must be at least 1, not {bins}")
    if np.isnan(conf).any() or conf.min() < 0.0 or conf.max() > 1.0:
        raise ValueError("confidences must lie in [0, 1]")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.minimum((conf * bins).astype(int), bins - 1)  # (n,) bin of each prediction
    count = np.bincount(index, minlength=bins)  # (bins,)
    conf_sum = np.bincount(index, weights=conf, minlength=bins)
    hit_sum = np.bincount(index, weights=hits, minlength=bins)
    filled = count > 0
    mean_conf = np.where(filled, conf_sum / np.maximum(count, 1), 0.0)
    accuracy = np.where(filled, hit_sum / np.maximum(count, 1), 0.0)
    ece = float(np.sum(count * np.abs(mean_conf - accuracy)) / conf.size)
    return {
        "ece": ece,
        "n": int(conf.size),
        "edges": [float(e) for e in edges],
        "confidence": [float(c) if f else None for c, f in zip(mean_conf, filled)],
        "accuracy": [float(a) if f else None for a, f in zip(accuracy, filled)],
        "count": [int(c) for c in count],
    }
