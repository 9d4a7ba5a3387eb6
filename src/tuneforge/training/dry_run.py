"""What a run would do, without training: ``tuneforge check CONFIG`` and ``tuneforge train --dry-run``.

It reads and splits the data exactly as training would, and reports the resolved config, split sizes,
label counts, steps per epoch, how often it evaluates, and every warning a run would give, so a
config can be fixed before it costs an hour.

Example:
    >>> plan = plan_run(load_config("configs/demo.yaml"))
    >>> plan.steps_per_epoch, plan.warnings
    (18, [])
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..config import RunConfig
from ..errors import ConfigError
from ..precision import resolve_precision
from .guardrails import MIN_EVAL_EXAMPLES, MIN_STEPS

log = logging.getLogger("tuneforge")
TRUNCATION_SAMPLE = 2000  # examples tokenized to measure how many max_length cuts


@dataclass
class RunPlan:
    """What training ``config`` would do."""

    config: RunConfig
    precision: str
    split_sizes: dict[str, int]
    label_counts: dict[str, dict[str, int]]
    steps_per_epoch: int | None  # None: the method builds its model without optimizer steps
    total_steps: int | None
    evaluations: int | None
    max_length: int
    truncated: tuple[int, int] | None  # (cut by max_length, measured)
    warnings: list[str] = field(default_factory=list)

    def render(self) -> str:
        """The plan as text: resolved config, data, schedule and warnings."""
        lines = ["resolved config:", yaml.safe_dump(self.config.model_dump(mode="json"), sort_keys=False).rstrip(), ""]
        sizes = ", ".join(f"{name} {n}" for name, n in self.split_sizes.items())
        lines.append(f"data: {sizes}")
        for split, counts in self.label_counts.items():
            shown = ", ".join(f"{label} {n}" for label, n in sorted(counts.items(), key=lambda kv: -kv[1])[:20])
            more = f" (+{len(counts) - 20} more)" if len(counts) > 20 else ""
            lines.append(f"  {split} labels: {shown}{more}")
        if self.truncated:
            cut, measured = self.truncated
            lines.append(f"  {cut} of {measured} training examples are longer than max_length {self.max_length} "
                         "tokens and will be cut")
        if self.steps_per_epoch is None:
            lines.append(f"training: method {self.config.method.name} builds its model without optimizer steps")
        else:
            lines.append(f"training: {self.steps_per_epoch} steps per epoch, {self.total_steps} steps in all, "
                         f"{self.evaluations} evaluations, precision {self.precision}")
        lines.append(f"run folder: {self.config.output.dir}")
        lines.extend(["", "warnings:" if self.warnings else "no warnings"])
        lines.extend(f"  - {warning}" for warning in self.warnings)
        return "\n".join(lines)


class _Collect(logging.Handler):
    """Keeps the warnings TuneForge logs while the data is read."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _label_counts(examples: list[dict[str, Any]]) -> dict[str, int]:
    counts: Counter = Counter()
    for example in examples:
        label = example.get("label")
        if isinstance(label, str):
            counts[label] += 1
        elif isinstance(label, list):
            counts.update(str(item) for item in label)
        for tag in example.get("tags") or []:
            if tag.startswith(("B-", "S-")):
                counts[tag[2:]] += 1
    return dict(counts)


def _truncated(examples: list[dict[str, Any]], tokenizer, max_length: int) -> tuple[int, int] | None:
    texts = [e for e in examples[:TRUNCATION_SAMPLE] if isinstance(e.get("text"), str)]
    if not texts or tokenizer is None:
        return None
    pairs = [e.get("text_pair") for e in texts]
    encoded = tokenizer([e["text"] for e in texts], pairs if any(pairs) else None, truncation=False)["input_ids"]
    return sum(len(ids) > max_length for ids in encoded), len(texts)


def _schedule(cfg: RunConfig, n_train: int) -> tuple[int, int, int]:
    t = cfg.train
    per_epoch = max(1, math.ceil(n_train / t.batch_size / t.gradient_accumulation_steps))
    total = t.max_steps or max(1, math.ceil(per_epoch * t.epochs))
    evaluations = total // t.eval_steps if t.eval_steps else math.ceil(total / per_epoch)
    return per_epoch, total, max(1, evaluations)


def plan_run(cfg: RunConfig, overwrite: bool = False) -> RunPlan:
    """Read, check and split the data of ``cfg`` and describe the run it would make (nothing is trained
    or written)."""
    from ..outputs import claim_run_folder, run_folder
    from .run import prepare

    warnings: list[str] = []
    folder = run_folder(cfg)
    cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"dir": folder})})
    if not cfg.train.resume:
        try:
            claim_run_folder(folder, overwrite=False)
        except ConfigError as exc:
            if not overwrite:
                warnings.append(str(exc))
    precision = resolve_precision(cfg.train.precision)
    collect = _Collect()
    logger = logging.getLogger("tuneforge")
    logger.addHandler(collect)
    try:
        seed = cfg.data.few_shot.seeds[0] if cfg.data.few_shot else None
        prep = prepare(cfg, few_shot_seed=seed)
    finally:
        logger.removeHandler(collect)
    warnings.extend(collect.messages)
    splits = prep.splits
    sizes = {"train": len(splits.train), "validation": len(splits.validation)}
    if splits.test:
        sizes["test"] = len(splits.test)
    counts = {name: _label_counts(examples) for name, examples in
              (("train", splits.train), ("validation", splits.validation), ("test", splits.test or []))}
    counts = {name: c for name, c in counts.items() if c}
    per_epoch = total = evaluations = None
    if prep.method.uses_trainer:
        per_epoch, total, evaluations = _schedule(cfg, len(splits.train))
        if total < MIN_STEPS:
            warnings.append(f"training would take only {total} optimizer steps (fewer than {MIN_STEPS}): lower "
                            f"train.batch_size (now {cfg.train.batch_size}) or raise train.epochs (now "
                            f"{cfg.train.epochs:g})")
        if cfg.train.logging_steps > total:
            warnings.append(f"train.logging_steps is {cfg.train.logging_steps} but training has {total} steps: the "
                            "loss curve would have no points; lower train.logging_steps")
    evaluated = "test" if splits.test else "validation"
    if 0 < sizes[evaluated] < MIN_EVAL_EXAMPLES:
        warnings.append(f"the {evaluated} split has only {sizes[evaluated]} examples, too few to measure the model; "
                        f"use at least {MIN_EVAL_EXAMPLES}")
    truncated = None if prep.task.reads_images else _truncated(splits.train, prep.tokenizer, prep.max_length)
    if truncated and truncated[0] > 0.05 * truncated[1]:
        warnings.append(f"{truncated[0]} of {truncated[1]} training examples are longer than {prep.max_length} "
                        "tokens and will be cut; raise model.max_length if the end of a text matters")
    return RunPlan(cfg, precision.name, sizes, counts, per_epoch, total, evaluations, prep.max_length, truncated,
                   warnings)
