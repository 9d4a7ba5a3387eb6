"""Text classification: single-label (softmax), multi-label (sigmoid + threshold), and text pairs.

A sentence-pair task is classification with ``data.text_pair_column`` set: both texts go
through the tokenizer together (``[CLS] a [SEP] b [SEP]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..evaluation.metrics import classification_metrics, multilabel_metrics
from . import TASKS
from .base import Task, batched_logits, sigmoid, softmax


class SequenceClassification(Task):
    """Single-label classification of a text or a text pair."""

    name = "classification"
    default_metric = "accuracy"
    trainer_metric_names = ("accuracy", "macro_f1", "micro_f1")
    auto_class = "AutoModelForSequenceClassification"
    default_max_length = 128
    multilabel = False
    single_label = True

    def model_options(self) -> dict[str, Any]:
        """Softmax or sigmoid loss, by ``multilabel``."""
        return {"problem_type": "multi_label_classification" if self.multilabel else "single_label_classification"}

    def _features(self, examples, tokenizer, max_length: int) -> dict[str, list]:
        texts = [e["text"] for e in examples]
        pairs = [e["text_pair"] for e in examples] if examples and examples[0].get("text_pair") else None
        encoded = tokenizer(texts, pairs, truncation=True, max_length=max_length)
        return dict(encoded)

    def _label_ids(self, examples, label_names: list[str]) -> list:
        index = {n: i for i, n in enumerate(label_names)}
        if self.multilabel:
            rows = []
            for e in examples:
                row = [0.0] * len(label_names)
                for label in e["label"]:
                    row[index[label]] = 1.0
                rows.append(row)
            return rows
        return [index[e["label"]] for e in examples]

    def encode(self, examples, tokenizer, label_names, max_length, with_labels=True):
        """Tokenize examples into a ``datasets.Dataset`` with ``length`` for length grouping."""
        from datasets import Dataset

        columns = self._features(examples, tokenizer, max_length)
        columns["length"] = [len(ids) for ids in columns["input_ids"]]
        if with_labels:
            columns["labels"] = self._label_ids(examples, label_names)
        return Dataset.from_dict(columns)

    def collator(self, tokenizer):
        """Pad each batch to its own longest sequence."""
        from transformers import DataCollatorWithPadding

        pad = DataCollatorWithPadding(tokenizer)

        def collate(features):
            batch = pad([{k: v for k, v in f.items() if k != "length"} for f in features])
            if self.multilabel and "labels" in batch:
                batch["labels"] = batch["labels"].float()
            return batch

        return collate

    def trainer_metrics(self, label_names: list[str], threshold: float):
        """Accuracy and F1 on Trainer's evaluation logits."""
        from sklearn.metrics import accuracy_score, f1_score

        def compute(eval_pred) -> dict[str, float]:
            logits, labels = eval_pred.predictions, eval_pred.label_ids
            if isinstance(logits, tuple):
                logits = logits[0]
            if self.multilabel:
                pred = (sigmoid(logits) >= threshold).astype(int)
                gold = labels.astype(int)
            else:
                pred, gold = logits.argmax(-1), labels
            return {
                "accuracy": float(accuracy_score(gold, pred)),
                "macro_f1": float(f1_score(gold, pred, average="macro", zero_division=0)),
                "micro_f1": float(f1_score(gold, pred, average="micro", zero_division=0)),
            }

        return compute

    def predict(self, model, tokenizer, examples, label_names, *, max_length, threshold=0.5, batch_size=64):
        """Label and per-label scores for each example."""
        columns = self._features(examples, tokenizer, max_length)
        features = [dict(zip(columns, values)) for values in zip(*columns.values())]
        logits = batched_logits(model, features, self.collator(tokenizer), batch_size)
        results = []
        for row in logits:
            if self.multilabel:
                probs = sigmoid(row)
                labels = [n for n, p in zip(label_names, probs) if p >= threshold]
                results.append({"labels": labels, "scores": {n: round(float(p), 6) for n, p in zip(label_names, probs)}})
            else:
                probs = softmax(row)
                best = int(np.argmax(probs))
                results.append({
                    "label": label_names[best],
                    "score": round(float(probs[best]), 6),
                    "scores": {n: round(float(p), 6) for n, p in zip(label_names, probs)},
                })
        return results

    def score(self, examples, predictions, label_names, train_stats) -> dict[str, Any]:
        """Metrics of ``predictions`` against the examples' labels."""
        counts = train_stats.get("label_counts") or {}
        majority = max(label_names, key=lambda n: counts.get(n, 0)) if counts else None
        return classification_metrics(
            [e["label"] for e in examples], [p["label"] for p in predictions], label_names, majority
        )


class MultiLabelClassification(SequenceClassification):
    """Multi-label classification: independent sigmoid per label, thresholded."""

    name = "multilabel"
    default_metric = "micro_f1"
    multilabel = True
    single_label = False

    def score(self, examples, predictions, label_names, train_stats) -> dict[str, Any]:
        """Metrics of ``predictions`` against the examples' label sets."""
        counts, n = train_stats.get("label_counts") or {}, train_stats.get("examples") or 0
        baseline = [name for name in label_names if counts.get(name, 0) > n / 2] if n else None
        return multilabel_metrics(
            [e["label"] for e in examples], [p["labels"] for p in predictions], label_names, baseline
        )


TASKS.register("classification")(SequenceClassification())
TASKS.register("multilabel")(MultiLabelClassification())
