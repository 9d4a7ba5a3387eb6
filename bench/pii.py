"""PII masking on the project's seeded corpus (tests/data/pii_corpus.py): recall and precision per type,
and how many card-like numbers with a failing Luhn checksum were masked (should be none).

Usage: python bench/pii.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import machine, write_results  # noqa: E402


def main() -> None:
    from tests.data.pii_corpus import pii_corpus, score_masker
    from tuneforge.data.pii import PATTERN_TYPES, PiiMasker

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    masker = PiiMasker(list(PATTERN_TYPES))
    rows, results = [], {}
    for seed in args.seeds:
        sentences = pii_corpus(seed=seed)
        started = time.perf_counter()
        result = score_masker(lambda text: [(f.type, f.start, f.end) for f in masker.find(text)], sentences)
        seconds = time.perf_counter() - started
        results[seed] = {"sentences": len(sentences), "seconds": round(seconds, 2), **result}
        for kind, figures in result["per_type"].items():
            if kind in PATTERN_TYPES:
                rows.append(f"| {seed} | {kind} | {figures['items']} | {figures['recall']:.3f} | {figures['precision']:.3f} |")
        rows.append(f"| {seed} | invalid card numbers masked | {result['invalid_cards']} | "
                    f"{result['invalid_cards_masked']} masked | |")
    table = ("| corpus seed | type | items | recall | precision |\n|---|---|---:|---:|---:|\n" + "\n".join(rows)
             + f"\n\n{len(sentences)} sentences per seed; CPU: {machine()['cpu']['model']}; `python bench/pii.py`\n")
    write_results("pii", {"results": results, "machine": machine()}, table)


if __name__ == "__main__":
    main()
