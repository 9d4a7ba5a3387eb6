"""Text classification: single-label (softmax), multi-label (sigmoid + threshold), and text pairs.

A sentence-pair task is classification with ``data.text_pair_column`` set: both texts go
through the tokenizer together (``[CLS] a [SEP] b [SEP]``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from pydantic import Field

from ..data.examples import multi_labels
from ..errors import DataError
from ..evaluation.metrics import classification_metrics, multilabel_metrics
from . import TASKS
from .base import Starter, Task, TaskOptions, sigmoid, softmax


class ClassificationOptions(TaskOptions):
    """The ``task:`` section of (multi-label) classification."""

    temperature: float = Field(1.0, gt=0, le=100, description="divides the logits before softmax/sigmoid; "
                                                              "eval.calibrate: temperature fits it")


class SequenceClassification(Task):
    """Single-label classification of a text or a text pair."""

    Options = ClassificationOptions
    logit_kind = "softmax"
    augmentable = True

    name = "classification"
    default_metric = "accuracy"
    trainer_metric_names = ("accuracy", "macro_f1", "micro_f1")
    auto_class = "AutoModelForSequenceClassification"
    default_max_length = 128
    multilabel = False
    single_label = True

    def demo_examples(self):
        """Two short reviews of each sentiment."""
        return [{"text": t, "text_pair": None, "label": label, "where": "demo"} for t, label in (
            ("a great movie", "pos"), ("lovely acting", "pos"), ("so boring", "neg"), ("awful music", "neg"))]

    def starter(self, profile) -> Starter | None:
        """A text (or text pair) column and a label column of a few distinct values: one label per row here,
        several (JSON lists or delimited strings) for multi-label."""
        if profile.format not in self.formats:
            return None
        text, second, label = profile.text_pair_label()
        if label is None:
            return None
        lists = profile.label_lists(label)
        numbers = profile.numbers(label)
        if (lists is not None) != self.multilabel or (
                numbers and (any(v != int(v) for v in numbers) or profile.distinct(label) > 20)):
            return None  # several labels per row, or a numeric target: another task's data
        data = {"text_column": text, "label_column": label}
        if second:
            data["text_pair_column"] = second
        if lists not in (None, "list"):
            data["label_delimiter"] = lists
        kinds = (f"labels per row from {profile.distinct(label)} combinations" if self.multilabel
                 else f"{profile.distinct(label)} labels")
        what = f"text pairs {text!r} + {second!r}" if second else f"text column {text!r}"
        return Starter(fit=1.5 if self.multilabel else 1.0, data=data,
                       notes=[f"{what}, label column {label!r} ({kinds})"])

    def check_training_data(self, train, splits_carved: int, source: str) -> None:
        """Besides the shared warnings: refuse a class too small to appear in every split carved from
        the training file (one example each for train, validation and test)."""
        counts = Counter(e["label"] for e in train)
        needed = 1 + splits_carved
        small = sorted((n, label) for label, n in counts.items() if n < needed)
        if small and splits_carved:
            n, label = small[0]
            names = ", ".join(repr(lbl) for _, lbl in small[:5])
            raise DataError(
                f"{source}: label {label!r} has only {n} example(s) ({len(small)} labels are that small: {names}); "
                f"carving {'validation and test sets' if splits_carved == 2 else 'a validation set'} out of the "
                f"training file needs at least {needed} per label, one for each split. Add examples, drop the label, "
                "or give data.validation and data.test files")
        super().check_training_data(train, splits_carved, source)

    def report_sections(self, metrics, examples, predictions):
        """Per-class (per-label) table, confusion; with predictions, calibration and the most confident mistakes."""
        from ..evaluation import html_report as html

        sections = [("per-class", self.per_class_title, html.per_class_table(metrics)),
                    ("confusion", "Confusion", html.confusion_section(metrics))]
        if examples:
            calibration, mistakes = ((html.multilabel_calibration, html.multilabel_mistakes) if self.multilabel
                                     else (html.classification_calibration, html.classification_mistakes))
            temperature = (metrics.get("temperature_scaling") or {}).get("temperature")
            sections += [("calibration", "Calibration", calibration(examples, predictions, temperature)
                          if temperature and not self.multilabel else calibration(examples, predictions)),
                         ("mistakes", "Most confident mistakes", mistakes(examples, predictions))]
        return sections

    def model_options(self) -> dict[str, Any]:
        """Softmax or sigmoid loss, by ``multilabel``."""
        return {"problem_type": "multi_label_classification" if self.multilabel else "single_label_classification"}

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

        columns = self.text_features(examples, tokenizer, max_length)
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
        logits = self.text_outputs(model, tokenizer, examples, max_length, batch_size)
        temperature = getattr(self.options, "temperature", 1.0) if self.options is not None else 1.0
        results = []
        for row in logits:
            row = row / temperature
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
        top = max((counts.get(n, 0) for n in label_names), default=0)
        majority = [n for n in label_names if counts.get(n, 0) == top] if counts else None
        return classification_metrics(
            [e["label"] for e in examples], [p["label"] for p in predictions], label_names, majority
        )


class MultiLabelClassification(SequenceClassification):
    """Multi-label classification: independent sigmoid per label, thresholded."""

    logit_kind = "sigmoid"

    name = "multilabel"
    default_metric = "micro_f1"
    multilabel = True
    single_label = False

    def demo_examples(self):
        """Reviews with any number of the labels fun and long."""
        return [{"text": t, "text_pair": None, "label": labels, "where": "demo"} for t, labels in (
            ("a great fun movie", ["fun"]), ("a long and fun story", ["fun", "long"]), ("so long", ["long"]),
            ("awful", []))]

    def parse_label(self, cell, where: str, columns) -> list[str]:
        """A list, or a string split on ``data.label_delimiter`` (default ``|``): sorted label names."""
        return multi_labels(cell, where, columns.label_column, columns.label_delimiter, columns.label_names)

    def check_training_data(self, train, splits_carved: int, source: str) -> None:
        """The shared warnings only: multi-label splits are not stratified."""
        Task.check_training_data(self, train, splits_carved, source)

    def score(self, examples, predictions, label_names, train_stats) -> dict[str, Any]:
        """Metrics of ``predictions`` against the examples' label sets."""
        counts, n = train_stats.get("label_counts") or {}, train_stats.get("examples") or 0
        baseline = [name for name in label_names if counts.get(name, 0) > n / 2] if n else None
        return multilabel_metrics(
            [e["label"] for e in examples], [p["labels"] for p in predictions], label_names, baseline
        )


TASKS.register("classification")(SequenceClassification())
TASKS.register("multilabel")(MultiLabelClassification())
