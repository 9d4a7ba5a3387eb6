"""In-context SST-2 with SmolLM2-135M-Instruct: zero-shot and k demonstrations per class, with and without
contextual calibration, scored on the whole SST-2 dev set (872 sentences).

Nothing trains: the prompt is the demonstrations (drawn from SST-2 train with the seed) then the query,
``Review: {text}\\nSentiment: {label}``, and a label's score is the log-likelihood of its word
("negative" / "positive"). Demonstrations run once per batch (their key/value cache is reused).
Usage: python bench/in_context.py [--shots 0,4] [--seed 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, machine, write_results  # noqa: E402


def main() -> None:
    from tuneforge import api
    from tuneforge.config import build_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shots", default="0,4")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for shots in [int(s) for s in args.shots.split(",")]:
        for calibrate in (False, True):
            with tempfile.TemporaryDirectory() as out:
                cfg = build_config({
                    "name": f"in-context-{shots}-{calibrate}",
                    "data": {"train": str(SHARED_DATA / "sst2" / "train.tsv"), "test": str(SHARED_DATA / "sst2" / "dev.tsv"),
                             "text_column": "sentence", "label_names": ["negative", "positive"]},
                    "model": {"name": "smollm2-135m-instruct", "max_length": 128},
                    "method": {"name": "in_context", "shots_per_class": shots, "calibrate": calibrate,
                               "template": "Review: {text}\nSentiment: {label}"},
                    "train": {"seed": args.seed, "report_to": []}, "output": {"dir": out}})
                started = time.perf_counter()
                result = api.train(cfg, overwrite=True)
                rows.append({"shots_per_class": shots, "calibrate": calibrate,
                             "accuracy": round(result.metrics["accuracy"], 4),
                             "macro_f1": round(result.metrics["macro_f1"], 4),
                             "seconds": round(time.perf_counter() - started, 1)})
                print(rows[-1], flush=True)
    facts = machine()
    lines = ["# In-context SST-2 dev (872) with SmolLM2-135M-Instruct", "",
             f"CPU: {facts['cpu']['model']} ({', '.join(facts['cpu']['flags'])}), seed {args.seed}", "",
             "| demonstrations per class | calibration | accuracy | macro F1 | seconds |", "|---:|---|---:|---:|---:|"]
    lines += [f"| {r['shots_per_class']} | {'yes' if r['calibrate'] else 'no'} | {r['accuracy']:.4f} | "
              f"{r['macro_f1']:.4f} | {r['seconds']} |" for r in rows]
    write_results("in_context_sst2", {"machine": facts, "rows": rows}, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
