"""Warnings every run checks for: too little training, an evaluation split too small to measure, and a
model that does not beat its baseline. They go to the log and into the report."""

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


def run_warnings(*, steps: int, trained_by_steps: bool, eval_examples: int, split: str, metric: str,
                 metrics: dict[str, Any], lower_is_better: bool) -> list[str]:
    """The guardrail warnings of one run (empty when there is nothing to say)."""
    found = []
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
