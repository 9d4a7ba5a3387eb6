"""Compare adaptation methods on SST-2 (and a smaller CoNLL-2003 run) under equal conditions.

Every method trains on the same SST-2 training subset for the same number of epochs with the
same seed, each at its own learning rate (below), and is scored on the full SST-2 dev set.
Each method runs in a fresh subprocess so that peak resident memory is its own. Training time
includes the per-epoch evaluations; seconds per step exclude them (train runtime minus eval runtime).
Usage: python bench/methods.py [--train 4000] [--epochs 3] [--methods full,lora,...] [--conll]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, machine, write_results  # noqa: E402

from tuneforge.methods import METHODS  # noqa: E402

# Each method's own learning rate (its contract's default_learning_rate): every gradient method that
# trains the task model through Trainer (prompt-based fine-tuning has its own benchmark, bench/fewshot.py).
LEARNING_RATES = {name: METHODS.get(name).default_learning_rate for name in METHODS.names()
                  if METHODS.get(name).uses_trainer and METHODS.get(name).default_learning_rate
                  and METHODS.get(name)().can_export(METHODS.get(name).Options())}
CONLL_METHODS = ["full", "freeze", "lora", "bitfit"]  # the CoNLL rows of the README table


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_one(method: str, task: str, train_size: int, epochs: float, seed: int) -> dict:
    """Train one method in this process and return its row (called in a subprocess)."""
    from tuneforge import api
    from tuneforge.config import build_config

    out = Path(tempfile.mkdtemp(prefix=f"bench-{method}-"))
    if task == "sst2":
        data = {"train": str(SHARED_DATA / "sst2" / "train.tsv"), "test": str(SHARED_DATA / "sst2" / "dev.tsv"),
                "text_column": "sentence", "label_names": ["negative", "positive"],
                "max_train_samples": train_size, "split": {"validation": 0.05, "seed": seed}}
        task_cfg = {"type": "classification"}
    else:
        data = {"train": str(SHARED_DATA / "conll2003" / "train.txt"),
                "validation": str(SHARED_DATA / "conll2003" / "valid.txt"),
                "test": str(SHARED_DATA / "conll2003" / "test.txt"), "format": "conll",
                "max_train_samples": train_size, "split": {"seed": seed}}
        task_cfg = {"type": "token_classification"}
    cfg = build_config({
        "name": f"bench-{method}", "data": data, "task": task_cfg, "method": {"name": method},
        "train": {"epochs": epochs, "learning_rate": LEARNING_RATES[method], "batch_size": 32, "seed": seed,
                  "early_stopping_patience": None, "logging_steps": 1000},
        "output": {"dir": str(out)},
    })
    started = time.perf_counter()
    result = api.train(cfg, overwrite=True)
    wall = time.perf_counter() - started
    train_metrics = json.loads((result.run_dir / "metrics.json").read_text())["train"]
    manifest = result.predictor.manifest["method"]
    history = json.loads((result.run_dir / "log_history.json").read_text())
    steps = history[-1]["step"]
    # Trainer's train_runtime includes the per-epoch evaluations; a step's cost excludes them.
    eval_seconds = sum(entry.get("eval_runtime", 0.0) for entry in history)
    step_seconds = train_metrics["train_runtime"] - eval_seconds
    score_key = "accuracy" if task == "sst2" else "f1"
    return {
        "method": method, "task": task, score_key: result.metrics[score_key],
        "trainable": manifest["trainable_parameters"], "total": manifest["total_parameters"],
        "trainable_pct": 100 * manifest["trainable_parameters"] / manifest["total_parameters"],
        "train_seconds": train_metrics["train_runtime"], "eval_seconds": eval_seconds, "steps": steps,
        "seconds_per_step": step_seconds / max(steps, 1), "wall_seconds": wall,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "bundle_mb": dir_size(result.bundle_dir) / 2**20, "merged": manifest["merged"],
    }


def table(rows: list[dict], score_key: str, full_row: dict | None) -> str:
    lines = [f"| method | {score_key} | Δ vs full | trainable | trainable % | train time (s) | s/step | "
             "step speed-up vs full | peak RSS (MB) | bundle (MB) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        delta = 100 * (r[score_key] - full_row[score_key]) if full_row else 0.0
        speed = full_row["seconds_per_step"] / r["seconds_per_step"] if full_row else 1.0
        lines.append(f"| {r['method']} | {r[score_key]:.4f} | {delta:+.2f} | {r['trainable']:,} | {r['trainable_pct']:.2f} | "
                     f"{r['train_seconds']:.0f} | {r['seconds_per_step']:.3f} | {speed:.2f}x | {r['peak_rss_mb']:.0f} | "
                     f"{r['bundle_mb']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=4000, help="SST-2 training examples")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--methods", default=",".join(LEARNING_RATES))
    parser.add_argument("--conll", action="store_true", help="also run full, freeze, lora, bitfit on CoNLL-2003")
    parser.add_argument("--conll-train", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--lr", default="", help="learning-rate overrides, e.g. bitfit=5e-3,lora=2e-3")
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "TASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    for item in filter(None, args.lr.split(",")):
        method, _, value = item.partition("=")
        LEARNING_RATES[method] = float(value)
    if args.one:
        method, task = args.one
        size = args.train if task == "sst2" else args.conll_train
        print("RESULT " + json.dumps(run_one(method, task, size, args.epochs, args.seed)))
        return
    jobs = [(m, "sst2") for m in args.methods.split(",")]
    if args.conll:
        jobs += [(m, "conll") for m in CONLL_METHODS]
    rows = []
    for method, task in jobs:
        cmd = [sys.executable, __file__, "--one", method, task, "--train", str(args.train), "--epochs", str(args.epochs),
               "--conll-train", str(args.conll_train), "--seed", str(args.seed), "--lr", args.lr]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
        if proc.returncode != 0 or not line:
            print(f"{method}/{task} failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(line[0][7:]))
        print(f"{method}/{task}: {json.dumps(rows[-1])}", flush=True)
    md = []
    for task, key in (("sst2", "accuracy"), ("conll", "f1")):
        task_rows = [r for r in rows if r["task"] == task]
        if task_rows:
            full = next((r for r in task_rows if r["method"] == "full"), None)
            title = "SST-2 dev" if task == "sst2" else "CoNLL-2003 test (entity F1)"
            md.append(f"### {title}\n\n{table(task_rows, key, full)}\n")
    md.append(f"SST-2: {args.train} training examples, {args.epochs} epochs, batch 32, seed {args.seed}; "
              f"CoNLL-2003: {args.conll_train} sentences. s/step excludes evaluation. Learning rates: {LEARNING_RATES}.\n")
    write_results("methods", {"machine": machine(), "args": vars(args), "rows": rows}, "\n".join(md))


if __name__ == "__main__":
    main()
