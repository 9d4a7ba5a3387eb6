"""Metrics for each task, computed with scikit-learn and seqeval.

All functions return plain JSON-serialisable dicts so they can go straight into
``metrics.json``, the bundle manifest and the report.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _per_class(precision, recall, f1, support, names) -> dict[str, dict[str, float]]:
    return {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(names, precision, recall, f1, support)
    }


def classification_metrics(
    y_true: list[str], y_pred: list[str], label_names: list[str], majority_label: str | list[str] | None = None
) -> dict[str, Any]:
    """Accuracy, macro/micro F1, per-class table, confusion matrix and the majority baseline (classes tied
    for the majority in training, ``majority_label`` as a list, count equally: the baseline is the mean of
    always predicting each, not whichever came first).

    Example:
        >>> classification_metrics(["a", "b"], ["a", "a"], ["a", "b"], "a")["accuracy"]
        0.5
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=label_names, zero_division=0)
    metrics: dict[str, Any] = {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=label_names, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(y_true, y_pred, labels=label_names, average="micro", zero_division=0)),
        "per_class": _per_class(p, r, f, s, label_names),
        "confusion_matrix": {
            "labels": list(label_names),
            "matrix": confusion_matrix(y_true, y_pred, labels=label_names).tolist(),
        },
    }
    if majority_label is not None:
        tied = [majority_label] if isinstance(majority_label, str) else list(majority_label)
        runs = []
        for label in tied:
            base = [label] * len(y_true)
            runs.append({
                "accuracy": float(accuracy_score(y_true, base)),
                "macro_f1": float(f1_score(y_true, base, labels=label_names, average="macro", zero_division=0)),
                "micro_f1": float(f1_score(y_true, base, labels=label_names, average="micro", zero_division=0)),
            })
        shown = ": " + ", ".join(f"'{label}'" for label in tied) if len(tied) <= 3 else ""
        name = (f"always '{tied[0]}'" if len(tied) == 1 else
                f"the majority class ({len(tied)} tied in training{shown}; mean of always predicting each)")
        metrics["baseline"] = {"name": name, **{k: sum(r[k] for r in runs) / len(runs) for k in runs[0]}}
    return metrics


def multilabel_metrics(
    y_true: list[list[str]], y_pred: list[list[str]], label_names: list[str], baseline_labels: list[str] | None = None
) -> dict[str, Any]:
    """Subset accuracy, macro/micro F1, per-label table and per-label confusion counts."""
    from sklearn.metrics import accuracy_score, f1_score, multilabel_confusion_matrix, precision_recall_fscore_support
    from sklearn.preprocessing import MultiLabelBinarizer

    binarizer = MultiLabelBinarizer(classes=label_names)
    t = binarizer.fit_transform(y_true)
    pr = binarizer.transform(y_pred)
    p, r, f, s = precision_recall_fscore_support(t, pr, zero_division=0)
    confusion = multilabel_confusion_matrix(t, pr)  # (labels, 2, 2): [[tn, fp], [fn, tp]]
    metrics: dict[str, Any] = {
        "n": len(y_true),
        "accuracy": float(accuracy_score(t, pr)),
        "macro_f1": float(f1_score(t, pr, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(t, pr, average="micro", zero_division=0)),
        "per_class": _per_class(p, r, f, s, label_names),
        "label_confusion": {
            name: {"tp": int(c[1, 1]), "fp": int(c[0, 1]), "fn": int(c[1, 0]), "tn": int(c[0, 0])}
            for name, c in zip(label_names, confusion)
        },
    }
    if baseline_labels is not None:
        base = binarizer.transform([baseline_labels] * len(y_true))
        metrics["baseline"] = {
            "name": f"always {{{', '.join(baseline_labels)}}}",
            "accuracy": float(accuracy_score(t, base)),
            "macro_f1": float(f1_score(t, base, average="macro", zero_division=0)),
            "micro_f1": float(f1_score(t, base, average="micro", zero_division=0)),
        }
    return metrics


def entity_metrics(y_true: list[list[str]], y_pred: list[list[str]]) -> dict[str, Any]:
    """Entity-level precision/recall/F1 (conlleval rules, via seqeval), per type, and token accuracy."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    per_type = {
        name: {"precision": float(v["precision"]), "recall": float(v["recall"]), "f1": float(v["f1-score"]),
               "support": int(v["support"])}
        for name, v in report.items()
        if not name.endswith(" avg")
    }
    flat_true = np.array([t for seq in y_true for t in seq])
    flat_pred = np.array([t for seq in y_pred for t in seq])
    return {
        "n": len(y_true),
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
        "macro_f1": float(np.mean([v["f1"] for v in per_type.values()])) if per_type else 0.0,
        "token_accuracy": float((flat_true == flat_pred).mean()) if len(flat_true) else 0.0,
        "per_class": per_type,
        "baseline": {
            "name": "always 'O'",
            "f1": 0.0,
            "token_accuracy": float((flat_true == "O").mean()) if len(flat_true) else 0.0,
        },
    }
