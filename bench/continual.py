"""Continual fine-tuning on a real shift: SST-2 training phrases split by length into an old domain (at
most 8 words) and a new one (at least 15 words), each with its own seeded test split. A model is
trained on the old domain, then ``tuneforge continue`` trains it on the new one with replay 0.2 and
without replay; the table gives the old-set drop and the new-set gain of each.
Usage: python bench/continual.py [--old-train 20000] [--workdir runs/continual]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, machine, write_results  # noqa: E402


def split_domains(workdir: Path, old_train_size: int, seed: int = 0) -> tuple[Path, Path, Path]:
    rows = (SHARED_DATA / "sst2" / "train.tsv").read_bytes().decode().replace("\r", "").splitlines()
    header, rows = rows[0], [r for r in rows[1:] if r.strip()]
    short = [r for r in rows if len(r.split("\t")[0].split()) <= 8]
    long = [r for r in rows if len(r.split("\t")[0].split()) >= 15]
    rng = random.Random(seed)
    rng.shuffle(short)
    workdir.mkdir(parents=True, exist_ok=True)
    paths = workdir / "old_train.tsv", workdir / "old_test.tsv", workdir / "new.tsv"
    for path, part in zip(paths, (short[2000:2000 + old_train_size], short[:2000], long)):
        path.write_text("\n".join([header, *part]) + "\n", encoding="utf-8")
    return paths


def main() -> None:
    from tuneforge import api
    from tuneforge.config import build_config
    from tuneforge.continual import continue_training

    parser = argparse.ArgumentParser()
    parser.add_argument("--old-train", type=int, default=20000)
    parser.add_argument("--workdir", type=Path, default=Path("runs/continual"))
    args = parser.parse_args()
    old_train, old_test, new = split_domains(args.workdir, args.old_train)
    started = time.perf_counter()
    old = api.train(build_config({
        "name": "sst2-short", "data": {"train": str(old_train), "test": str(old_test), "text_column": "sentence",
                                       "label_column": "label", "label_names": ["negative", "positive"],
                                       "split": {"validation": 0.05}},
        "train": {"epochs": 1, "learning_rate": 1e-4, "batch_size": 32, "eval_steps": 200},
        "output": {"dir": str(args.workdir / "old")}}))
    old_seconds = time.perf_counter() - started
    runs = {}
    for replay in (0.2, 0.0):
        started = time.perf_counter()
        report = continue_training(old.bundle_dir, new, replay=replay, output=args.workdir / f"replay{replay:g}",
                                   overrides=["train.epochs=1", "train.eval_steps=200"])
        runs[f"replay {replay:g}"] = {**report, "seconds": round(time.perf_counter() - started, 1)}
    lines = ["# Continual fine-tuning: SST-2 short phrases (old) -> long phrases (new)", "",
             f"Old domain: phrases of at most 8 words ({args.old_train} training, 2000 test); new domain: phrases "
             "of at least 15 words (20% held out as its test split). The old model: 1 epoch on the old domain "
             f"({old_seconds / 60:.1f} min). Each continuation: 1 epoch on the mix.", "",
             "| continuation | old test before | old test after | forgetting (points) | new test before | "
             "new test after | gain (points) | minutes |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in runs.items():
        s = r["scores"]
        lines.append(f"| {name} ({r['replayed']} old + {r['new_train']} new) | {s['old_test']['before']:.4f} | "
                     f"{s['old_test']['after']:.4f} | {r['forgetting_points']:.2f} | {s['new_test']['before']:.4f} | "
                     f"{s['new_test']['after']:.4f} | {r['gain_points']:.2f} | {r['seconds'] / 60:.1f} |")
    write_results("continual", {"runs": runs, "old_bundle": str(old.bundle_dir), "machine": machine()},
                  "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
