"""Does ``data.augment`` help? SST-2 with 200 and 1,000 training sentences, 5 seeds each, trained with
and without EDA augmentation; accuracy on the SST-2 dev set (872 sentences).

Per seed: the training sentences and 200 validation sentences (disjoint) are drawn from SST-2 train;
the same sample is trained twice on the default backbone (method full, batch 16, lr 1e-4, fixed epochs:
5 for 200 sentences, 3 for 1,000; no early stopping), once plain and once with ``data.augment``
(``--factor`` copies per sentence, all four EDA operations, alpha 0.1, synonyms from the backbone's
embeddings). Augmented runs see more examples per epoch, as in the EDA paper; their training time is
recorded beside. The CPU model and flags are recorded.
Usage: python bench/augment.py [--factor 2] [--seeds 5] [--sizes 200 1000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, machine, write_results  # noqa: E402

EPOCHS = {200: 5, 1000: 3}
VALIDATION = 200


def _write(path: Path, rows: list[list[str]]) -> Path:
    path.write_text("sentence\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in rows), encoding="utf-8")
    return path


def run_once(scratch: Path, train: list, validation: list, size: int, seed: int, factor: int | None) -> dict:
    """Train one model and return its dev accuracy and training time."""
    from tuneforge import api
    from tuneforge.config import build_config

    name = f"n{size}-s{seed}-{'aug' if factor else 'plain'}"
    data = {"train": str(_write(scratch / f"{name}-train.tsv", train)),
            "validation": str(_write(scratch / f"{name}-val.tsv", validation)),
            "test": str(SHARED_DATA / "sst2" / "dev.tsv"), "text_column": "sentence"}
    if factor:
        data["augment"] = {"factor": factor, "seed": seed}
    config = {"name": name, "data": data, "method": {"name": "full"},
              "train": {"epochs": EPOCHS.get(size, 3), "batch_size": 16, "learning_rate": 1e-4, "seed": seed,
                        "early_stopping_patience": None, "report_to": [], "logging_steps": 1000},
              "output": {"dir": str(scratch / name)}}
    started = time.perf_counter()
    result = api.train(build_config(config))
    return {"accuracy": result.metrics["accuracy"], "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 1000])
    args = parser.parse_args()
    lines = (SHARED_DATA / "sst2" / "train.tsv").read_bytes().decode("utf-8").replace("\r", "").split("\n")[1:]
    rows = [line.split("\t") for line in lines if line.strip()]
    scratch = Path(tempfile.mkdtemp(prefix="bench-augment-"))
    runs = []
    for size in args.sizes:
        for seed in range(args.seeds):
            picked = random.Random(seed).sample(range(len(rows)), size + VALIDATION)
            train, validation = [rows[i] for i in picked[:size]], [rows[i] for i in picked[size:]]
            for factor in (None, args.factor):
                outcome = run_once(scratch, train, validation, size, seed, factor)
                runs.append({"size": size, "seed": seed, "augment": bool(factor), **outcome})
                print(runs[-1], flush=True)
    table = ["| training sentences | without augment: dev accuracy (mean ± std) | with data.augment "
             f"(factor {args.factor}) | difference | seconds per run (plain / augmented) |", "|---|---|---|---|---|"]
    summary = {}
    for size in args.sizes:
        plain = [r["accuracy"] for r in runs if r["size"] == size and not r["augment"]]
        aug = [r["accuracy"] for r in runs if r["size"] == size and r["augment"]]
        secs = [statistics.mean(r["seconds"] for r in runs if r["size"] == size and r["augment"] == a) for a in (False, True)]
        summary[size] = {"plain_mean": statistics.mean(plain), "plain_std": statistics.pstdev(plain),
                         "augmented_mean": statistics.mean(aug), "augmented_std": statistics.pstdev(aug),
                         "wins": sum(a > p for a, p in zip(aug, plain))}
        s = summary[size]
        table.append(f"| {size:,} | {s['plain_mean']:.4f} ± {s['plain_std']:.4f} | {s['augmented_mean']:.4f} ± "
                     f"{s['augmented_std']:.4f} | {s['augmented_mean'] - s['plain_mean']:+.4f} "
                     f"(better in {s['wins']} of {len(plain)} seeds) | {secs[0]:.0f} / {secs[1]:.0f} |")
    info = machine()
    table.append(f"\nSST-2 dev (872 sentences); {args.seeds} seeds; default backbone, method full. CPU: "
                 f"{info['cpu']['model']}; `python bench/augment.py --factor {args.factor}`\n")
    write_results("augment", {"runs": runs, "summary": summary, "factor": args.factor, "machine": info},
                  "\n".join(table))


if __name__ == "__main__":
    main()
