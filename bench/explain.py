"""Completeness of integrated-gradients explanations on an SST-2 model: for the first 50 dev sentences,
how far the attributions' sum is from the logit difference to the baseline (Captum's convergence
delta, relative to that difference), at the given numbers of integration steps; and the time per
sentence. The CPU model and flags are recorded.

Usage: python bench/explain.py BUNDLE [--sentences 50] [--steps 50 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, machine, write_results  # noqa: E402


def main() -> None:
    from tuneforge.explain.attributions import explain_texts
    from tuneforge.predictor import Predictor

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--sentences", type=int, default=50)
    parser.add_argument("--steps", type=int, nargs="+", default=[50, 200])
    args = parser.parse_args()
    lines = (SHARED_DATA / "sst2" / "dev.tsv").read_bytes().decode("utf-8").replace("\r", "").split("\n")[1:]
    texts = [line.split("\t")[0] for line in lines if line.strip()][:args.sentences]
    predictor = Predictor.load(args.bundle)
    rows, results = [], {}
    for steps in args.steps:
        started = time.perf_counter()
        explained = explain_texts(predictor, texts, steps=steps)
        seconds = (time.perf_counter() - started) / len(texts)
        relative = [e["relative_delta"] for e in explained]
        within = sum(r <= 0.05 for r in relative)
        results[steps] = {"within_5_percent": within, "sentences": len(texts), "median_relative_delta":
                          statistics.median(relative), "max_relative_delta": max(relative),
                          "seconds_per_sentence": round(seconds, 3)}
        rows.append(f"| {steps} | {within} of {len(texts)} | {statistics.median(relative):.4f} | {max(relative):.4f} | "
                    f"{seconds:.2f} |")
    table = ("| steps | within 5% of the logit difference | median relative delta | largest | seconds per sentence |\n"
             "|---:|---:|---:|---:|---:|\n" + "\n".join(rows)
             + f"\n\nFirst {len(texts)} SST-2 dev sentences; bundle {args.bundle}; CPU: {machine()['cpu']['model']}; "
               f"`python bench/explain.py BUNDLE`\n")
    write_results("explain", {"results": results, "bundle": args.bundle, "machine": machine()}, table)


if __name__ == "__main__":
    main()
