"""Step 4 of a run: ``metrics.json``, ``report.md`` and ``report.html`` in the run folder."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from ..evaluation.html_report import write_html_report
from ..evaluation.report import render_markdown
from ..fileops import atomic_write_text
from .guardrails import metric_history, run_warnings
from .run_log import format_seconds

log = logging.getLogger("tuneforge")


def display_backbone(name: str) -> str:
    """What a report calls the backbone: the packaged default by its hub id, anything else by its name."""
    from ..backbone import DEFAULT_BACKBONE_ID

    return f"{DEFAULT_BACKBONE_ID} (the default backbone)" if name == "default" else name


def backbone_name(cfg, task) -> str:
    """``model.name``, where ``default`` means the task's default backbone."""
    from ..config import DEFAULT_BACKBONE

    return task.default_backbone if cfg.model.name == DEFAULT_BACKBONE else cfg.model.name


def report(cfg, prep, fitted, ev, run_dir: Path) -> str:
    """Step 4: ``metrics.json``, ``report.md`` and ``report.html`` in the run folder; returns the markdown."""
    trainable, total = fitted.trainable, fitted.total
    context = {
        "run": cfg.name,
        "model": display_backbone(backbone_name(cfg, prep.task)),
        "method": f"{cfg.method.name} ({trainable:,} of {total:,} parameters trainable, {100 * trainable / total:.2f}%)",
        "data": f"{len(prep.splits.train)} train / {len(prep.splits.validation)} validation / {len(ev.examples)} "
                f"{ev.split}",
        "evaluated on": ev.split,
        "training time": format_seconds(fitted.train_seconds),
    }
    if "peak_rss_mb" in fitted.train_metrics:
        context["peak memory (resident)"] = f"{fitted.train_metrics['peak_rss_mb']:,.0f} MB"
    warnings = run_warnings(steps=fitted.steps, trained_by_steps=prep.method.uses_trainer,
                            eval_examples=len(ev.examples), split=ev.split, metric=prep.task.default_metric,
                            metrics=ev.metrics, lower_is_better=prep.task.default_metric in prep.task.lower_is_better,
                            history=metric_history(fitted.log_history, prep.metric), checkpoint_metric=prep.metric,
                            predictions=ev.predictions)
    for warning in warnings:
        log.warning(warning)
    if warnings:
        context["warnings"] = "; ".join(warnings)
    if ev.bf16_check:
        c = ev.bf16_check
        context["bf16 inference"] = (f"{'accepted' if c['accepted'] else 'refused, fp32 kept'}: agreement "
                                     f"{c['agreement']:.4f}, largest probability difference "
                                     f"{c['max_probability_diff']:.4f} on {c['examples']} {ev.split} examples")
    if fitted.best is not None:
        at = f" at step {fitted.best_step} (that checkpoint is the model saved)" if fitted.best_step else ""
        context["best validation " + prep.metric] = f"{fitted.best:.4f}{at}"
    task_facts = prep.task.training_facts()
    context.update({k.replace("_", " "): v for k, v in {**fitted.facts, **task_facts}.items()})
    if task_facts.get("training_tokens") and fitted.train_seconds and fitted.epochs:
        seen = task_facts["training_tokens"] * fitted.epochs
        context["training tokens per second"] = f"{seen / fitted.train_seconds:,.0f} ({seen:,.0f} tokens)"
    markdown = render_markdown(ev.metrics, f"TuneForge report: {cfg.name}", context, prep.task)
    if ev.metrics.get("robustness"):
        from ..evaluation.robustness import robustness_markdown

        markdown += "\n" + "\n".join(robustness_markdown(ev.metrics["robustness"]))
    from ..explain.mistakes import explain_mistakes

    explain_mistakes(ev.predictor, ev.examples, ev.predictions)  # highlights for the report's mistakes
    atomic_write_text(run_dir / "metrics.json", json.dumps(
        {"split": ev.split, **ev.metrics, "train": fitted.train_metrics, "best_validation": {prep.metric: fitted.best}},
        indent=2))
    atomic_write_text(run_dir / "report.md", markdown)
    write_html_report(run_dir / "report.html", ev.metrics, f"TuneForge report: {cfg.name}", context, ev.examples,
                      ev.predictions, fitted.log_history, task=prep.task, best_step=fitted.best_step)
    return markdown
