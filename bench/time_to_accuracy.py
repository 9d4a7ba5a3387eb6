"""Time to accuracy: wall-clock seconds from the start of `tuneforge train configs/sst2.yaml` to its first
evaluation at or above the target SST-2 dev accuracy (0.90), with `train.precision` fp32 and auto, in one run.

Each run is the shipped config as it is (evaluation every 500 steps); the clock starts before the data
is read and stops at the evaluation that first reaches the target. Runs that never reach it say so.
Usage: python bench/time_to_accuracy.py [--target 0.90] [--precisions fp32,auto]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def one_run(precision: str, target: float, keep: str | None = None) -> dict:
    """Train the SST-2 config with ``precision``; the evaluations seen and when the target was reached."""
    from transformers import TrainerCallback

    from tuneforge.config import load_config
    from tuneforge.precision import resolve_precision
    from tuneforge.training.run import train_run

    started = time.perf_counter()
    evaluations: list[dict] = []

    class Clock(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            evaluations.append({"step": state.global_step, "seconds": round(time.perf_counter() - started, 1),
                                "accuracy": round((metrics or {}).get("eval_accuracy", 0.0), 4)})
            print(precision, evaluations[-1], flush=True)

    with tempfile.TemporaryDirectory() as out:
        cfg = load_config(ROOT / "configs" / "sst2.yaml", [f"train.precision={precision}", f"output.dir={out}",
                                                           "train.report_to=[]"])
        result = train_run(cfg, callbacks=[Clock()])
        if keep:
            import shutil

            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(result.bundle_dir, keep)
    reached = next((e for e in evaluations if e["accuracy"] >= target), None)
    return {"precision": precision, "resolved": resolve_precision(precision).name, "evaluations": evaluations,
            "seconds_to_target": reached["seconds"] if reached else None,
            "final_dev_accuracy": round(result.metrics["accuracy"], 4),
            "total_seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.90)
    parser.add_argument("--precisions", default="fp32,auto")
    parser.add_argument("--keep", default=None, help="copy the last run's bundle here (for bench/compress.py)")
    args = parser.parse_args()
    rows = [one_run(p, args.target, args.keep) for p in args.precisions.split(",")]
    facts = machine()
    lines = [f"# Time to {args.target:.2f} SST-2 dev accuracy (configs/sst2.yaml)", "",
             f"CPU: {facts['cpu']['model']} ({', '.join(facts['cpu']['flags'])}), {facts['cpus']} cores, "
             f"torch threads {facts['torch_threads']}", "",
             "| precision | resolved to | seconds to target | final dev accuracy | whole run (s) |",
             "|---|---|---:|---:|---:|"]
    for r in rows:
        reached = f"{r['seconds_to_target']:.0f}" if r["seconds_to_target"] is not None else "not reached"
        lines.append(f"| {r['precision']} | {r['resolved']} | {reached} | {r['final_dev_accuracy']:.4f} | "
                     f"{r['total_seconds']:.0f} |")
    write_results("time_to_accuracy", {"machine": facts, "target": args.target, "runs": rows}, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
