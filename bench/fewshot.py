"""Few-shot SST-2: zero-shot, contrastive (SetFit-style), prompt-based (alone and + LoRA), full fine-tuning.

K examples per class are drawn from SST-2 train once per seed (the same draws for every
approach, since the draw depends only on the seed); every run is scored on the whole dev set.
Rows give mean and standard deviation of accuracy over seeds, and wall time per run.
Usage: python bench/fewshot.py [--k 8,16,64] [--seeds 0,1,2,3,4] [--approaches zero_shot,setfit,prompt,prompt_lora,full]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, machine, write_results  # noqa: E402

DESCRIPTIONS = {"negative": "a bad, boring, disappointing film", "positive": "a good, enjoyable, moving film"}
PROMPT = {"name": "prompt", "template": "{text} It was [MASK].", "verbalizer": {"negative": "terrible", "positive": "great"}}
METHODS = {
    "zero_shot": {"name": "zero_shot", "label_descriptions": DESCRIPTIONS},
    "setfit": {"name": "setfit", "pair_iterations": 20},
    "prompt": PROMPT,
    "prompt_lora": {**PROMPT, "adapt": {"name": "lora", "r": 8}},
    "full": {"name": "full"},
}
# Gradient fine-tuning on a handful of examples: more epochs, small batches, early stopping on the
# K-per-class validation draw.
FEW = {"epochs": 20, "batch_size": 8, "early_stopping_patience": 5, "logging_steps": 10}
TRAIN = {
    "prompt": {**FEW, "learning_rate": 5e-5},
    "prompt_lora": {**FEW, "learning_rate": 1e-3},
    "full": {**FEW, "learning_rate": 1e-4},
}


def config(approach: str, k: int | None, seeds: list[int], out: Path) -> dict:
    """The run config of one approach at K per class (None: zero-shot, no examples)."""
    data = {"train": str(SHARED_DATA / "sst2" / "train.tsv"), "test": str(SHARED_DATA / "sst2" / "dev.tsv"),
            "text_column": "sentence", "label_names": ["negative", "positive"]}
    if k is not None:
        data["few_shot"] = {"per_class": k, "seeds": seeds}
    method = dict(METHODS[approach])
    if approach == "setfit" and k is not None and k > 16:
        method["pair_iterations"] = 5  # 2 * K * iterations pairs: keep K=64 at the pair count of K=16
    return {"name": f"fewshot-{approach}-{k}", "data": data, "task": {"type": "classification"},
            "method": method, "train": TRAIN.get(approach, {}), "output": {"dir": str(out)}}


def main() -> None:
    from tuneforge import api
    from tuneforge.config import build_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", default="8,16,64")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--approaches", default=",".join(METHODS))
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = []
    for approach in args.approaches.split(","):
        for k in ([None] if approach == "zero_shot" else [int(k) for k in args.k.split(",")]):
            out = Path(tempfile.mkdtemp(prefix=f"fewshot-{approach}-"))
            started = time.perf_counter()
            result = api.train(build_config(config(approach, k, seeds, out)), overwrite=True)
            wall = time.perf_counter() - started
            if k is None:
                accuracies = [result.metrics["accuracy"]]
            else:
                accuracies = [run.metrics["accuracy"] for run in result.runs.values()]
            rows.append({"approach": approach, "k": k, "accuracies": accuracies,
                         "mean": statistics.fmean(accuracies),
                         "std": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
                         "seconds_per_run": wall / len(accuracies)})
            print(json.dumps(rows[-1]), flush=True)
    lines = ["| approach | K per class | accuracy mean | std | runs | seconds per run |", "|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['approach']} | {r['k'] if r['k'] is not None else '0'} | {r['mean']:.4f} | {r['std']:.4f} | "
                     f"{len(r['accuracies'])} | {r['seconds_per_run']:.0f} |")
    table = "\n".join(lines) + (f"\n\nSST-2 dev (872 sentences), seeds {seeds}; zero-shot label descriptions: "
                                f"{DESCRIPTIONS}.\n")
    write_results("fewshot", {"machine": machine(), "args": vars(args), "rows": rows}, table)


if __name__ == "__main__":
    main()
