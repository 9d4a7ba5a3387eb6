"""Warnings every run checks for: too little training, an evaluation split too small to measure, a
validation metric that never moved, a model that predicts no label at all, and a model that does not
beat its baseline. They go to the log and into the report."""

from __future__ import annotations

import math
from typing import Any

MIN_STEPS = 50
MIN_EVAL_EXAMPLES = 30


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion (``successes`` of ``n``).

    Example:
        >>> [round(x, 2) for x in wilson_interval(5, 6)]
        [0.44, 0.97]
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def metric_history(log_history: list[dict[str, Any]] | None, metric: str) -> list[float]:
    """The validation values of ``metric`` at each evaluation of a Trainer run, in order."""
    key = metric if metric.startswith("eval_") else f"eval_{metric}"
    return [entry[key] for entry in log_history or [] if isinstance(entry.get(key), (int, float))]


def run_warnings(*, steps: int, trained_by_steps: bool, eval_examples: int, split: str, metric: str,
                 metrics: dict[str, Any], lower_is_better: bool, history: list[float] | None = None,
                 checkpoint_metric: str | None = None, predictions: list[dict[str, Any]] | None = None) -> list[str]:
    """The guardrail warnings of one run (empty when there is nothing to say).

    ``history``: the validation values of ``checkpoint_metric`` at each evaluation; ``predictions``: what
    the model predicted on the ``split`` examples (multi-label predictions hold a ``labels`` list)."""
    found = []
    if history and len(history) >= 2 and len(set(history)) == 1:
        found.append(f"validation {checkpoint_metric or metric} stayed at {history[0]:.4f} in all {len(history)} "
                     "evaluations: the model did not learn; raise train.learning_rate or train.epochs (for "
                     "multi-label data, lower task.threshold)")
    multi = [p["labels"] for p in predictions or [] if isinstance(p.get("labels"), list)]
    if multi and len(multi) == len(predictions) and not any(multi):
        found.append(f"the model predicts no label at all for any of the {len(multi)} {split} examples (no score "
                     "reaches task.threshold); lower task.threshold or train longer")
    if trained_by_steps and 0 < steps < MIN_STEPS:
        found.append(f"training took only {steps} optimizer steps (fewer than {MIN_STEPS}): the model may have "
                     "barely moved; lower train.batch_size or raise train.epochs")
    value = metrics.get(metric)
    if 0 < eval_examples < MIN_EVAL_EXAMPLES and isinstance(value, (int, float)):
        detail = ""
        if 0 <= value <= 1 and metric in ("accuracy", "micro_f1", "macro_f1", "f1"):
            low, high = wilson_interval(value * eval_examples, eval_examples)
            detail = f" ({metric} {value:.3f}, 95% interval {low:.2f} to {high:.2f})"
        found.append(f"the {split} split has only {eval_examples} examples, too few to measure the model{detail}; "
                     f"use at least {MIN_EVAL_EXAMPLES}")
    baseline = (metrics.get("baseline") or {}).get(metric)
    if isinstance(value, (int, float)) and isinstance(baseline, (int, float)):
        beaten = value < baseline if lower_is_better else value > baseline
        if not beaten:
            name = (metrics.get("baseline") or {}).get("name", "the baseline")
            found.append(f"the model does not beat {name} on {split} {metric} ({value:.4f} against {baseline:.4f})")
    return found
