"""The method advisor: train several adaptation methods on the user's data within one time budget,
measure what each costs, and recommend one with its reason.

Each method gets an equal share of the budget (a Trainer callback stops training when its share is
spent; the best checkpoint is still evaluated) and its own sensible learning rate. Costs measured:
training time, trainable parameters, inference latency (one text at a time, and texts per second
in batches of 32), and bundle size on disk.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import RunConfig, with_values
from ..errors import ConfigError, TuneForgeError
from ..methods import METHODS
from ..tasks import get_task

log = logging.getLogger("tuneforge")



def default_methods() -> list[str]:
    """The methods ``compare`` trains when none are named: those that declare ``compared_by_default``."""
    return [name for name in METHODS.names() if METHODS.get(name).compared_by_default]


@dataclass
class Comparison:
    """Rows (one per method), the recommendation and where the report is."""

    rows: list[dict[str, Any]]
    recommended: str | None
    reason: str
    metric: str
    out_dir: Path


def _method_values(cfg: RunConfig, name: str, share: float) -> dict[str, Any]:
    """Config values for one method's run: the config's own method keeps its options and learning rate;
    another gets its declared learning rate and compare options (see the method contract)."""
    if name == cfg.method.name:
        return {"method": cfg.method.model_dump(mode="json")}
    method = METHODS.get(name)()
    values: dict[str, Any] = {"method": {"name": name, **method.compare_options(share)}}
    if method.default_learning_rate is not None:
        values["train.learning_rate"] = method.default_learning_rate
    return values


def _dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def measure_latency(predictor, examples: list[dict[str, Any]], singles: int = 50) -> dict[str, float]:
    """Median milliseconds per text one at a time, and texts per second in batches of 32: the model
    timed by ``compress.measure.latency``, as ``tuneforge compress`` times its variants.

    Example:
        >>> measure_latency(Predictor.load("runs/demo/bundle"), examples)["ms_per_text_b1"]
        4.1
    """
    from ..compress.measure import example_text, latency, timed_batches

    task = predictor.task
    if task.reads_images:  # images: the task prepares the batches
        grow = 1 + 128 // max(1, len(examples))
        one = timed_batches(predictor.model, [{"pixel_values": predictor.tokenizer.pixels([e])}
                                              for e in examples[:singles]], 1)
        many = (examples * grow)[:128]
        batched = timed_batches(predictor.model, [{"pixel_values": predictor.tokenizer.pixels(many[i:i + 32])}
                                                  for i in range(0, len(many), 32)], 32)
        return {"ms_per_text_b1": one["p50_ms"], "texts_per_s_b32": batched["texts_per_second"]}
    texts = [example_text(e) for e in examples]
    pairs = [e.get("text_pair") or "" for e in examples] if any(e.get("text_pair") for e in examples) else None
    grow = 1 + 128 // max(1, len(texts))
    one = latency(predictor.model, predictor.tokenizer, texts[:singles], 1, predictor.max_length,
                  pairs=pairs[:singles] if pairs else None)
    many = latency(predictor.model, predictor.tokenizer, (texts * grow)[:128], 32, predictor.max_length,
                   pairs=(pairs * grow)[:128] if pairs else None)
    return {"ms_per_text_b1": one["p50_ms"], "texts_per_s_b32": many["texts_per_second"]}


def _run_method(cfg: RunConfig, name: str, share: float, out_dir: Path) -> dict[str, Any]:
    from ..training.callbacks import time_limit_callback
    from ..training.run import train_run

    run_cfg = with_values(cfg, {**_method_values(cfg, name, share), "output.dir": str(out_dir / name),
                                "name": f"{cfg.name}-{name}"})
    started = time.perf_counter()
    result = train_run(run_cfg, callbacks=[time_limit_callback(share)])
    wall = time.perf_counter() - started
    latency = measure_latency(result.predictor, result.eval_examples)
    return {
        "method": name, "score": float(result.metrics.get(result.metric, 0.0)),
        "split": result.eval_split, "trainable_parameters": result.trainable_parameters,
        "trainable_percent": 100 * result.trainable_parameters / max(1, result.total_parameters),
        "train_seconds": round(result.train_seconds, 1), "wall_seconds": round(wall, 1),
        "bundle_mb": round(_dir_mb(result.bundle_dir), 2), **{k: round(v, 2) for k, v in latency.items()},
        "learning_rate": run_cfg.train.learning_rate, "bundle": str(result.bundle_dir), "error": None,
    }


def recommend(rows: list[dict[str, Any]], tolerance: float = 1.0) -> tuple[str | None, str]:
    """The method to use, and why: the cheapest of those within ``tolerance`` points of the best score.

    Cheapest = lowest sum of ranks on training time, latency (one text) and bundle size; a tie goes
    to the higher score.

    Example:
        >>> recommend([{"method": "full", "score": .86, ...}, {"method": "lora", "score": .855, ...}])[0]
        'lora'
    """
    done = [r for r in rows if r.get("error") is None]
    if not done:
        return None, "no method finished"
    best = max(done, key=lambda r: r["score"])
    close = [r for r in done if 100 * (best["score"] - r["score"]) <= tolerance]
    costs = ("train_seconds", "ms_per_text_b1", "bundle_mb")
    ranks = {r["method"]: 0 for r in close}
    for cost in costs:
        for rank, row in enumerate(sorted(close, key=lambda r: r[cost])):
            ranks[row["method"]] += rank
    choice = min(close, key=lambda r: (ranks[r["method"]], -r["score"]))
    if choice is best:
        others = [r for r in close if r is not best]
        reason = (f"{best['method']} has the best score ({best['score']:.4f})"
                  + (f" and is also the cheapest of the methods within {tolerance:g} point(s) of it"
                     if others else f"; no other method came within {tolerance:g} point(s) of it"))
    else:
        gap = 100 * (best["score"] - choice["score"])
        reason = (f"{choice['method']} scores {choice['score']:.4f}, {gap:.2f} points below the best "
                  f"({best['method']}, {best['score']:.4f}), within the {tolerance:g}-point tolerance, and costs less: "
                  f"training {choice['train_seconds']:.0f}s vs {best['train_seconds']:.0f}s, "
                  f"{choice['ms_per_text_b1']:.1f} vs {best['ms_per_text_b1']:.1f} ms per text, "
                  f"bundle {choice['bundle_mb']:.1f} vs {best['bundle_mb']:.1f} MB")
    return choice["method"], reason


def compare_methods(cfg: RunConfig, methods: list[str], budget_seconds: float, out_dir: Path | None = None,
                    tolerance: float = 1.0) -> Comparison:
    """Train each method on ``cfg``'s data within an equal share of the budget; write the comparison report.

    Example:
        >>> result = compare_methods(load_config("configs/sst2.yaml"), ["full", "lora"], 1800)
        >>> result.recommended, result.reason
    """
    if not methods:
        raise ConfigError("give at least one method to compare")
    for name in methods:
        METHODS.get(name)  # an unknown method fails here, naming the valid ones
    from ..outputs import compare_folder

    out_dir = compare_folder(cfg, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    share = budget_seconds / len(methods)
    rows, started = [], time.perf_counter()
    for number, name in enumerate(methods, 1):
        log.info("compare %d/%d: %s (share %.0fs of the %.0fs budget)", number, len(methods), name, share,
                 budget_seconds)
        try:
            row = _run_method(cfg, name, share, out_dir)
        except (TuneForgeError, RuntimeError, ValueError) as exc:  # one method failing must not lose the others
            log.warning("compare: %s failed: %s", name, exc)
            row = {"method": name, "error": f"{type(exc).__name__}: {exc}"}
        rows.append(row)
        (out_dir / "comparison.json").write_text(json.dumps({"rows": rows}, indent=2), encoding="utf-8")
    metric = cfg.eval.metric or get_task(cfg.task.type).with_options(cfg.task).checkpoint_metric
    recommended, reason = recommend(rows, tolerance)
    from .advisor_report import write_comparison

    write_comparison(out_dir, rows, recommended, reason, metric, budget_seconds, time.perf_counter() - started)
    return Comparison(rows, recommended, reason, metric, out_dir)
