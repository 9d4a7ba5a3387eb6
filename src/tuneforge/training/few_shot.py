"""Few-shot runs: one training run per sampling seed, then the mean and spread over seeds.

A few examples per class make results swing with which examples were drawn; one number would
hide that. Each seed's run keeps its own folder (``seed-<n>/`` with config, report and bundle);
the parent folder gets ``fewshot.json`` and a ``report.md`` with every seed's result.
"""

from __future__ import annotations

import json
import logging
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import RunConfig, build_config, dump_config
from ..evaluation.report import headline, markdown_table
from .run import RunResult, resolve_run_dir, train_run

log = logging.getLogger("tuneforge")


@dataclass
class FewShotResult:
    """Every seed's run plus the summary over seeds."""

    run_dir: Path
    runs: dict[int, RunResult]
    summary: dict[str, Any]


def summarise(metrics_by_seed: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Mean, sample standard deviation and per-seed values of each headline metric.

    Example:
        >>> summarise({0: {"accuracy": 0.8}, 1: {"accuracy": 0.9}})["accuracy"]["mean"]
        0.85
    """
    summary: dict[str, Any] = {}
    keys = headline(next(iter(metrics_by_seed.values()))).keys()
    for key in keys:
        values = [headline(m)[key] for m in metrics_by_seed.values()]
        summary[key] = {
            "mean": statistics.fmean(values),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "by_seed": {str(seed): headline(m)[key] for seed, m in metrics_by_seed.items()},
        }
    return summary


def _report(cfg: RunConfig, summary: dict[str, Any], runs: dict[int, RunResult]) -> str:
    k = cfg.data.few_shot.per_class
    lines = [f"# TuneForge few-shot report: {cfg.name}", "",
             f"- **method**: {cfg.method.name}", f"- **examples per class**: {k}",
             f"- **seeds**: {', '.join(str(s) for s in runs)}", "", "## Mean over seeds", "",
             markdown_table(["metric", "mean", "std", "min", "max"],
                            [[key, row["mean"], row["std"], min(row["by_seed"].values()), max(row["by_seed"].values())]
                             for key, row in summary.items()]),
             "", "## Every seed", "",
             markdown_table(["seed", *summary, "run folder"],
                            [[seed, *[summary[key]["by_seed"][str(seed)] for key in summary], run.run_dir]
                             for seed, run in runs.items()])]
    return "\n".join(lines) + "\n"


def few_shot_run(cfg: RunConfig) -> FewShotResult:
    """Train and evaluate once per ``data.few_shot.seeds`` entry; summarise the spread."""
    run_dir = resolve_run_dir(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, run_dir / "config.yaml")
    raw = cfg.model_dump(mode="json")
    runs: dict[int, RunResult] = {}
    for seed in cfg.data.few_shot.seeds:
        log.info("few-shot seed %d (%d per class)", seed, cfg.data.few_shot.per_class)
        seed_cfg = build_config({**raw, "output": {**raw["output"], "dir": str(run_dir / f"seed-{seed}")},
                                 "train": {**raw["train"], "seed": seed}})
        runs[seed] = train_run(seed_cfg, few_shot_seed=seed)
    summary = summarise({seed: run.metrics for seed, run in runs.items()})
    payload = {"per_class": cfg.data.few_shot.per_class, "method": cfg.method.name, "summary": summary,
               "runs": {str(seed): {"run_dir": str(run.run_dir), "bundle": str(run.bundle_dir),
                                    "wall_seconds": run.wall_seconds} for seed, run in runs.items()}}
    (run_dir / "fewshot.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    (run_dir / "report.md").write_text(_report(cfg, summary, runs), encoding="utf-8")
    main = next(iter(summary))
    log.info("few-shot %s over %d seeds: %.4f ± %.4f; report: %s", main, len(runs), summary[main]["mean"],
             summary[main]["std"], run_dir / "report.md")
    return FewShotResult(run_dir, runs, summary)
