"""The label-error finder on SST-2 train with 5% of the labels flipped at random (seeded).

The flipped copy is written to a scratch folder; ``tuneforge data check FILE`` runs on it in a
subprocess (the whole check: report, duplicates, near duplicates, label errors) and is timed. From
``data_report.json`` and the finder's full ranking (``data/label_errors.py``, rerun in-process on the
same file would double the time, so the report's ranking is used): precision at k = number flipped,
and recall/precision of cleanlab's flagged set. The CPU model and flags are recorded.
Usage: python bench/label_errors.py [--rate 0.05] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, machine, write_results  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    lines = (SHARED_DATA / "sst2" / "train.tsv").read_bytes().decode("utf-8").replace("\r", "").split("\n")
    header, rows = lines[0], [line.split("\t") for line in lines[1:] if line.strip()]
    rng = random.Random(args.seed)
    flipped = set(rng.sample(range(len(rows)), round(args.rate * len(rows))))
    scratch = Path(tempfile.mkdtemp(prefix="bench-label-errors-"))
    noisy = scratch / "train_noisy.tsv"
    noisy.write_text(header + "\n" + "".join(
        f"{text}\t{1 - int(label) if i in flipped else label}\n" for i, (text, label) in enumerate(rows)),
        encoding="utf-8")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tuneforge", "data", "check", str(noisy), "--output", str(scratch / "report"),
                    "--task", "classification"], check=True)
    seconds = time.perf_counter() - started
    report = json.loads((scratch / "report" / "data_report.json").read_text(encoding="utf-8"))
    ranking = json.loads((scratch / "report" / "label_ranking.json").read_text(encoding="utf-8"))
    # example index -> file line: the reader numbers lines from 1 with the header on line 1
    line_of = {i: i + 2 for i in range(len(rows))}
    flipped_lines = {line_of[i] for i in flipped}
    ranked_lines, flagged_lines = ranking["ranked_lines"], set(ranking["flagged_lines"])
    k = len(flipped)
    hits_at_k = sum(line in flipped_lines for line in ranked_lines[:k])
    found = len(flagged_lines & flipped_lines)
    errors = report["label_errors"]
    result = {
        "examples": len(rows), "flipped": k, "rate": args.rate, "seed": args.seed,
        "precision_at_k": round(hits_at_k / k, 4),
        "flagged": len(flagged_lines), "flagged_recall": round(found / k, 4),
        "flagged_precision": round(found / max(1, len(flagged_lines)), 4),
        "cross_validated_accuracy": errors["cross_validated_accuracy"], "finder_seconds": errors["seconds"],
        "check_seconds": round(seconds, 1), "machine": machine(),
        "command": f"python bench/label_errors.py --rate {args.rate} --seed {args.seed}",
    }
    table = ("| examples | flipped | precision@k | flagged | recall (flagged) | precision (flagged) | CV accuracy | "
             "whole check (s) | finder (s) |\n|---|---|---|---|---|---|---|---|---|\n"
             f"| {len(rows):,} | {k:,} | {result['precision_at_k']:.3f} | {len(flagged_lines):,} | "
             f"{result['flagged_recall']:.3f} | {result['flagged_precision']:.3f} | "
             f"{result['cross_validated_accuracy']:.4f} | {seconds:.0f} | {sum(errors['seconds'].values()):.0f} |\n\n"
             f"CPU: {result['machine']['cpu']['model']}; {result['command']}\n")
    write_results("label_errors", result, table)


if __name__ == "__main__":
    main()
