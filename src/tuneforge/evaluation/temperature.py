"""Temperature scaling (Guo et al. 2017): one number ``T`` that divides a classifier's logits so its
probabilities match how often it is right. ``T`` is fitted on the validation split by minimising the
negative log-likelihood; it never changes which label wins, so accuracy stays the same. Multi-label
models get one temperature for all their sigmoid outputs. When the run has no test split, the split the
temperature is fitted on is also the one reported, so ECE after scaling is measured cross-fitted: each
fold is scaled by a temperature fitted on the other folds.

Example:
    >>> t = fit_temperature(validation_logits, validation_labels)
    >>> probabilities = softmax(test_logits / t)
"""

from __future__ import annotations

import numpy as np

BOUNDS = (0.05, 20.0)
FOLDS = 5


def _nll(logits: np.ndarray, targets: np.ndarray, temperature: float, multilabel: bool) -> float:
    z = logits / temperature
    if multilabel:  # binary cross-entropy of every label
        return float(np.mean(np.logaddexp(0.0, z) - targets * z))
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(targets)), targets].mean())


def fit_temperature(logits, targets, multilabel: bool = False) -> float:
    """The temperature in [0.05, 20] that minimises the negative log-likelihood of ``targets`` (class
    indexes; for multi-label, a 0/1 matrix) under ``softmax(logits / T)`` (sigmoid for multi-label)."""
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64 if multilabel else np.int64)
    if len(logits) == 0:
        raise ValueError("temperature scaling needs at least one validation example")
    found = minimize_scalar(lambda log_t: _nll(logits, targets, float(np.exp(log_t)), multilabel),
                            bounds=tuple(np.log(BOUNDS)), method="bounded", options={"xatol": 1e-4})
    return round(float(np.exp(found.x)), 6)


def calibrate_model(task, model, tokenizer, label_names: list[str], validation, examples, max_length: int) -> dict:
    """Fit the temperature on ``validation`` and measure ``examples``' ECE before and after: what
    ``eval.calibrate: temperature`` records (the caller stores the temperature in the manifest)."""
    import logging

    from ..errors import ConfigError
    from .calibration import calibration

    if task.logit_kind not in ("softmax", "sigmoid"):
        raise ConfigError(f"eval.calibrate: temperature covers classification and multi-label; not {task.name}")
    multilabel = task.logit_kind == "sigmoid"

    def logits_and_targets(split):
        logits = np.stack(task.text_outputs(model, tokenizer, split, max_length, 64))
        if multilabel:
            return logits, np.array([[n in e["label"] for n in label_names] for e in split], dtype=float)
        return logits, np.array([label_names.index(e["label"]) for e in split])

    def ece(logits, targets, temperature):
        z = logits / temperature
        if multilabel:
            probs = 1 / (1 + np.exp(-z))
            return calibration(np.maximum(probs, 1 - probs).ravel(), ((probs >= 0.5) == targets).ravel())["ece"]
        probs = np.exp(z - z.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        return calibration(probs.max(axis=1), probs.argmax(axis=1) == targets)["ece"]

    val_logits, val_targets = logits_and_targets(validation)
    temperature = fit_temperature(val_logits, val_targets, multilabel=multilabel)
    same = examples is validation
    logits, targets = (val_logits, val_targets) if same else logits_and_targets(examples)
    before = ece(logits, targets, 1.0)
    if same:  # fitted and measured on one split: measure each fold with a temperature fitted on the others
        folds = cross_fitted_temperatures(val_logits, val_targets, multilabel)
        after = ece(logits / folds[:, None], targets, 1.0)
    else:
        after = ece(logits, targets, temperature)
    logging.getLogger("tuneforge").info(
        "calibration: temperature %.4f fitted on %d validation examples; ECE on the evaluation split %.4f -> %.4f%s",
        temperature, len(validation), before, after,
        f" ({FOLDS}-fold cross-fitted: the evaluation split is the validation split)" if same else "")
    return {"temperature": temperature, "ece_before": round(float(before), 6), "ece_after": round(float(after), 6),
            "measured": f"{FOLDS}-fold cross-fitted on validation" if same else "fitted on validation, measured on test"}


def cross_fitted_temperatures(logits, targets, multilabel: bool = False, folds: int | None = None,
                              seed: int = 0) -> np.ndarray:
    """For each example, the temperature fitted on the other folds (``FOLDS`` seeded folds): how ECE after
    scaling is measured honestly when the only labelled held-out data is the split the temperature is
    fitted on."""
    folds = folds or FOLDS
    order = np.random.default_rng(seed).permutation(len(logits))
    out = np.ones(len(logits))
    parts = [p for p in np.array_split(order, min(folds, len(logits))) if len(p)]
    if len(parts) < 2:
        return out
    for part in parts:
        rest = np.setdiff1d(order, part)
        out[part] = fit_temperature(logits[rest], targets[rest], multilabel=multilabel)
    return out
