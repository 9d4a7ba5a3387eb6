"""SST-2 hyperparameter search and method comparison, as the README and issue 7 state them.

Runs, one after the other (or, with --collect, only gathers finished runs):
  tuneforge tune configs/sst2_tune.yaml --trials 12 --timeout 40m
  tuneforge compare configs/sst2.yaml data.max_train_samples=16000 train.epochs=2 --budget 60m
and writes bench/results/tune_sst2.{json,md} and bench/results/compare_sst2.{json,md} (+ pareto.png).
Both commands pin torch to one thread (OMP_NUM_THREADS=1) so the two can run side by side on the
2-core machine, one per core (taskset), without oversubscribing.
Usage: python bench/tune_compare.py [--collect] [--skip-tune] [--skip-compare]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, machine, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TUNE = ["tune", "configs/sst2_tune.yaml", "--trials", "12", "--timeout", "40m"]
COMPARE = ["compare", "configs/sst2.yaml", "data.max_train_samples=16000", "train.epochs=2", "--budget", "60m"]
TUNE_DIR = ROOT / "runs" / "sst2_tune-tune"
COMPARE_DIR = ROOT / "runs" / "sst2-compare"


def _run(args: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "tuneforge", *args], cwd=ROOT, env=env, check=True)


def collect_tune() -> None:
    summary = json.loads((TUNE_DIR / "summary.json").read_text(encoding="utf-8"))
    trials = (TUNE_DIR / "trials.md").read_text(encoding="utf-8")
    best, default = summary["best_value"], summary["default_value"]
    lines = [f"Command: `tuneforge {' '.join(TUNE)}` (one CPU thread; 6,000 training sentences per trial, "
             "scored on SST-2 dev).", "",
             f"- config's own values (trial 0, configs/sst2.yaml's recipe): validation accuracy **{default:.4f}**",
             f"- best found (trial {summary['best_trial']}): **{best:.4f}** ({100 * (best - default):+.2f} points)",
             "- best values: " + ", ".join(f"`{k}={v:.3g}`" if isinstance(v, float) else f"`{k}={v}`"
                                            for k, v in summary["best_params"].items()),
             f"- trials: {summary['trials']}; time spent {summary['elapsed_seconds'] / 60:.1f} min", "", trials]
    write_results("tune_sst2", {"machine": machine(), "command": TUNE, **summary}, "\n".join(lines))


def collect_compare() -> None:
    report = json.loads((COMPARE_DIR / "comparison.json").read_text(encoding="utf-8"))
    table = (COMPARE_DIR / "comparison.md").read_text(encoding="utf-8").replace("](pareto.png)", "](compare_sst2_pareto.png)")
    shutil.copy(COMPARE_DIR / "pareto.png", RESULTS / "compare_sst2_pareto.png")
    text = f"Command: `tuneforge {' '.join(COMPARE)}` (one CPU thread; SST-2 dev).\n\n" + table
    write_results("compare_sst2", {"machine": machine(), "command": COMPARE, **report}, text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--collect", action="store_true", help="only gather finished runs")
    parser.add_argument("--skip-tune", action="store_true")
    parser.add_argument("--skip-compare", action="store_true")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if not args.skip_tune:
        if not args.collect:
            _run(TUNE)
        collect_tune()
    if not args.skip_compare:
        if not args.collect:
            _run(COMPARE)
        collect_compare()


if __name__ == "__main__":
    main()
