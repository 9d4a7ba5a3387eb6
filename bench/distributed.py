"""Data-parallel training against one process: the shipped SST-2 config on 8,000 training sentences,
trained once in one process and once with ``--nproc 2`` (same global batch 32, same seed), one after
the other on the same machine. Reports dev accuracy, wall time and the logged training losses of both.
On a 2-core machine the two processes share the cores, so the point is agreement, not speed.
Usage: python bench/distributed.py [--samples 8000] [--workdir runs/distributed]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def train(run_dir: Path, samples: int, nproc: int) -> dict:
    command = [sys.executable, "-m", "tuneforge", "train", "configs/sst2.yaml", f"data.max_train_samples={samples}",
               f"output.dir={run_dir}", "--overwrite"] + (["--nproc", str(nproc)] if nproc > 1 else [])
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    history = json.loads((run_dir / "log_history.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {"nproc": nproc, "wall_seconds": round(wall, 1), "accuracy": metrics["accuracy"],
            "losses": [(e["step"], round(e["loss"], 4)) for e in history if "loss" in e],
            "eval_accuracy": [(e["step"], round(e["eval_accuracy"], 4)) for e in history if "eval_accuracy" in e]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=8000)
    parser.add_argument("--workdir", type=Path, default=ROOT / "runs" / "distributed")
    args = parser.parse_args()
    runs = [train(args.workdir / "one", args.samples, 1), train(args.workdir / "two", args.samples, 2)]
    one, two = runs
    steps = [s for s, _ in one["losses"]][:3]
    first = {s: (dict(one["losses"])[s], dict(two["losses"]).get(s)) for s in steps}
    rows = [f"| {r['nproc']} | {r['accuracy']:.4f} | {r['wall_seconds']:.0f} | "
            + ", ".join(f"{loss:.4f}" for _, loss in r["losses"][:3]) + " |" for r in runs]
    table = ("| processes | SST-2 dev accuracy | wall s | training loss at steps " + ", ".join(map(str, steps))
             + " |\n|---:|---:|---:|---|\n" + "\n".join(rows) + "\n\n"
             + f"Accuracy difference: {100 * (two['accuracy'] - one['accuracy']):+.2f} points. configs/sst2.yaml, "
             + f"data.max_train_samples={args.samples}, global batch 32 (2 x 16 with --nproc 2), seed 42.\n")
    write_results("distributed", {"machine": machine(), "samples": args.samples, "runs": runs,
                                  "first_losses": first}, table)
    print(table)


if __name__ == "__main__":
    main()
