"""Text regression: one number (or several) per text or text pair, MSE loss.

The targets are numeric columns: ``data.label_column`` (one target), or the columns listed in
``data.label_names`` (several). Metrics are RMSE, MAE, Pearson and Spearman correlation (the
mean over targets; per target when there are several), against the baseline that predicts the
training mean. The report adds a predicted-vs-true scatter plot and the largest errors.

Example:
    >>> tuneforge train configs/sst_scores.yaml
    >>> tuneforge predict runs/sst_scores/bundle --text "a gorgeous, witty film"
    {"text": "a gorgeous, witty film", "value": 0.86, "values": {"score": 0.86}}
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from . import TASKS
from .base import Starter, Task, TaskOptions

TOP_ERRORS = 10


def _number(value: Any, where: str, column: str) -> float:
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{where}: missing number in column {column!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataError(f"{where}: {str(value)[:40]!r} in column {column!r} is not a number") from None
    if not math.isfinite(number):
        raise DataError(f"{where}: {value!r} in column {column!r} is not a finite number")
    return number


def _correlations(true: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """Pearson and Spearman correlation of one target (0 when either side is constant)."""
    from scipy.stats import pearsonr, spearmanr

    if len(true) < 2 or np.ptp(true) == 0 or np.ptp(pred) == 0:
        return 0.0, 0.0
    return float(pearsonr(true, pred)[0]), float(spearmanr(true, pred)[0])


def regression_metrics(true: np.ndarray, pred: np.ndarray, names: list[str]) -> dict[str, Any]:
    """RMSE, MAE, Pearson, Spearman: averaged over targets, and per target when there are several.

    ``true`` and ``pred`` are (examples, targets).
    """
    per_target = {}
    for i, name in enumerate(names):
        error = pred[:, i] - true[:, i]
        pearson, spearman = _correlations(true[:, i], pred[:, i])
        per_target[name] = {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error))),
                            "pearson": pearson, "spearman": spearman}
    metrics = {key: float(np.mean([v[key] for v in per_target.values()])) for key in ("pearson", "spearman", "rmse",
                                                                                      "mae")}
    if len(names) > 1:
        metrics["per_target"] = per_target
    return metrics


class RegressionOptions(TaskOptions):
    """``task: {type: regression}`` (the targets are named by the data section's columns)."""

    type: str = "regression"


class TextRegression(Task):
    """Predict real numbers from a text or a text pair (MSE loss on a linear head)."""

    logit_kind = "value"
    augmentable = True

    name = "regression"
    Options = RegressionOptions
    default_metric = "pearson"
    trainer_metric_names = ("pearson", "spearman", "rmse", "mae")
    lower_is_better = ("rmse", "mae")
    auto_class = "AutoModelForSequenceClassification"
    default_max_length = 128
    per_class_title = "Per target"

    def model_options(self) -> dict[str, Any]:
        """Mean squared error on the raw head outputs."""
        return {"problem_type": "regression"}

    # -- data --------------------------------------------------------------------------------------

    @staticmethod
    def _targets(columns) -> list[str]:
        if isinstance(columns.label_names, dict):
            raise ConfigError("regression takes data.label_names as a list of target columns, not a mapping")
        return list(columns.label_names) if columns.label_names else [columns.label_column]

    def read_examples(self, path, fmt, columns, require_labels=True):
        """Text rows whose ``label`` is the list of target values."""
        from ..data.examples import read_text_rows

        if fmt not in self.formats:
            raise DataError(f"{path}: task {self.name} reads {', '.join(self.formats)} files, not {fmt}")
        targets = self._targets(columns)
        return read_text_rows(path, fmt, text_column=columns.text_column, text_pair_column=columns.text_pair_column,
                              label_columns=targets, require_labels=require_labels,
                              parse_label=lambda values, where: [_number(values.get(t), where, t) for t in targets])

    def starter(self, profile) -> Starter | None:
        """A text column and a numeric column that is not a handful of class numbers."""
        if profile.format not in self.formats:
            return None
        text, second, label = profile.text_pair_label()
        numbers = profile.numbers(label) if label else None
        if not numbers or (all(v == int(v) for v in numbers) and profile.distinct(label) <= 20):
            return None
        data = {"text_column": text, "label_column": label, **({"text_pair_column": second} if second else {})}
        return Starter(fit=1.2, data=data, notes=[f"text column {text!r}, numeric target {label!r} "
                                                  f"({min(numbers):g} to {max(numbers):g})"])

    def demo_examples(self):
        """Sentences with a sentiment score."""
        return [{"text": t, "text_pair": None, "label": [v], "where": "demo"} for t, v in (
            ("a great movie", 0.9), ("lovely acting", 0.8), ("so boring", 0.2), ("awful music", 0.1))]

    def labels_of(self, example):
        """No label names: the targets are numbers."""
        return []

    def label_space(self, train, columns, source):
        """The target names: ``data.label_names``, or the label column."""
        return self._targets(columns)

    def check_known_labels(self, examples, label_names, split):
        """Any number is a known target."""

    def check_training_data(self, train, splits_carved, source):
        """Refuse targets that never vary: nothing could be learnt from them."""
        values = np.array([e["label"] for e in train], dtype=float)
        constant = [i for i in range(values.shape[1]) if np.ptp(values[:, i]) == 0]
        if constant:
            raise DataError(f"{source}: target {constant[0] + 1} has the same value in every training example")

    def train_stats(self, train):
        """The training mean of each target: the baseline predicts it."""
        values = np.array([e["label"] for e in train], dtype=float)
        return {"examples": len(train), "target_mean": values.mean(axis=0).round(6).tolist()}

    # -- model ---------------------------------------------------------------------------------------

    def encode(self, examples, tokenizer, label_names, max_length, with_labels=True):
        """Tokenize into a ``datasets.Dataset`` with ``length`` and float ``labels`` (examples, targets)."""
        from datasets import Dataset

        columns = self.text_features(examples, tokenizer, max_length)
        columns["length"] = [len(ids) for ids in columns["input_ids"]]
        if with_labels:
            columns["labels"] = [[float(v) for v in e["label"]] for e in examples]
        return Dataset.from_dict(columns)

    def collator(self, tokenizer):
        """Pad each batch to its longest sequence; labels as float (batch, targets), or (batch,) for one."""
        from transformers import DataCollatorWithPadding

        pad = DataCollatorWithPadding(tokenizer)

        def collate(features):
            batch = pad([{k: v for k, v in f.items() if k != "length"} for f in features])
            if "labels" in batch:
                labels = batch["labels"].float()
                batch["labels"] = labels.squeeze(-1) if labels.shape[-1] == 1 else labels
            return batch

        return collate

    def trainer_metrics(self, label_names, threshold):
        """Pearson, Spearman, RMSE and MAE on Trainer's evaluation outputs."""

        def compute(eval_pred) -> dict[str, float]:
            pred, true = eval_pred.predictions, eval_pred.label_ids
            if isinstance(pred, tuple):
                pred = pred[0]
            pred = np.asarray(pred, dtype=float).reshape(len(pred), -1)
            true = np.asarray(true, dtype=float).reshape(len(pred), -1)
            metrics = regression_metrics(true, pred, label_names)
            return {k: metrics[k] for k in self.trainer_metric_names}

        return compute

    def predict(self, model, tokenizer, examples, label_names, *, max_length, threshold=0.5, batch_size=64):
        """``value`` (the first target) and ``values`` (every target by name) for each example."""
        outputs = self.text_outputs(model, tokenizer, examples, max_length, batch_size)
        results = []
        for row in outputs:
            values = {name: round(float(v), 6) for name, v in zip(label_names, np.atleast_1d(row))}
            results.append({"value": next(iter(values.values())), "values": values})
        return results

    def score(self, examples, predictions, label_names, train_stats) -> dict[str, Any]:
        """Metrics against the true values, and the same metrics of the mean-prediction baseline."""
        true = np.array([e["label"] for e in examples], dtype=float).reshape(len(examples), -1)
        pred = np.array([[p["values"][n] for n in label_names] for p in predictions], dtype=float)
        metrics = regression_metrics(true, pred, label_names)
        mean = train_stats.get("target_mean")
        if mean is not None:
            constant = np.tile(np.asarray(mean, dtype=float), (len(examples), 1))
            baseline = regression_metrics(true, constant, label_names)
            metrics["baseline"] = {"name": "training mean", **{k: baseline[k] for k in ("pearson", "spearman",
                                                                                         "rmse", "mae")}}
        return {"n": len(examples), **metrics}

    def same_prediction(self, a, b) -> bool:
        """Values within 1e-3 of each other (relative to their size) count as the same prediction."""
        return all(abs(a["values"][k] - b["values"][k]) <= 1e-3 * max(1.0, abs(a["values"][k]))
                   for k in a["values"])

    # -- reports -------------------------------------------------------------------------------------

    def report_sections(self, metrics, examples, predictions):
        """Per-target table (several targets), predicted-vs-true scatter plot and the largest errors."""
        sections = []
        if metrics.get("per_target"):
            rows = "".join(f"<tr><td>{escape(name)}</td>" + "".join(f'<td class="num">{v[k]:.4f}</td>' for k in
                                                                    ("pearson", "spearman", "rmse", "mae")) + "</tr>"
                           for name, v in metrics["per_target"].items())
            sections.append(("per-class", self.per_class_title, "<table><thead><tr><th>target</th><th>Pearson</th>"
                             "<th>Spearman</th><th>RMSE</th><th>MAE</th></tr></thead><tbody>" + rows
                             + "</tbody></table>"))
        if examples:
            sections.append(("scatter", "Predicted against true", _scatter(examples, predictions)))
            sections.append(("errors", "Largest errors", _largest_errors(examples, predictions)))
        return sections

    def markdown_sections(self, metrics):
        """The per-target table when there are several targets."""
        per_target = metrics.get("per_target")
        if not per_target:
            return []
        from ..evaluation.report import markdown_table

        rows = [[n, v["pearson"], v["spearman"], v["rmse"], v["mae"]] for n, v in per_target.items()]
        return ["## Per target", "", markdown_table(["target", "pearson", "spearman", "rmse", "mae"], rows), ""]


def _scatter(examples, predictions) -> str:
    """A scatter plot of predicted against true values (first target), as an embedded PNG."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true = [e["label"][0] for e in examples]
    pred = [p["value"] for p in predictions]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(true, pred, s=6, alpha=0.4)
    low, high = min(true + pred), max(true + pred)
    ax.plot([low, high], [low, high], color="grey", linewidth=1)
    ax.set_xlabel("true value")
    ax.set_ylabel("predicted value")
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    finally:
        plt.close(fig)
    uri = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img src="{uri}" alt="predicted against true values">'


def _largest_errors(examples, predictions) -> str:
    """The examples whose prediction is furthest from the truth (first target)."""
    order = sorted(range(len(examples)), key=lambda i: -abs(predictions[i]["value"] - examples[i]["label"][0]))
    rows = "".join(
        f'<tr><td class="num">{rank}</td><td class="text">{escape(examples[i]["text"][:400])}</td>'
        f'<td class="num">{examples[i]["label"][0]:.4f}</td><td class="num">{predictions[i]["value"]:.4f}</td>'
        f'<td class="num">{predictions[i]["value"] - examples[i]["label"][0]:+.4f}</td></tr>'
        for rank, i in enumerate(order[:TOP_ERRORS], 1))
    return ('<table><thead><tr><th class="num">#</th><th>text</th><th class="num">true</th><th class="num">predicted'
            '</th><th class="num">error</th></tr></thead><tbody>' + rows + "</tbody></table>")


TASKS.register("regression")(TextRegression())
