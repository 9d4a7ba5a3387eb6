"""Training with freed memory kept in the heap (training/heap.py) against glibc's default heap.

Each path of ``bench/train_throughput.py`` runs alone in a new Python process (``--one``), because once
changed, glibc's heap settings cannot be put back as a new process finds them: the default encoder on
SST-2 sentences (batch 32) and SmolLM2-135M (batch 4 x 256 tokens), in fp32 and, where the CPU has native
bf16, under bf16 autocast; each with ``freed_memory_kept`` and without it (``tuneforge train`` keeps freed
memory for models of 100M parameters or more: SmolLM2, not the encoder).
Interleaved rounds; the median of each path counts.

Usage: python bench/heap.py [--rounds 3]
Writes bench/results/heap.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, write_results  # noqa: E402

THROUGHPUT = Path(__file__).resolve().parent / "train_throughput.py"


def in_new_process(name: str) -> dict:
    """``train_throughput.py --one name`` in a new process: its timing as a dict."""
    output = subprocess.run([sys.executable, str(THROUGHPUT), "--one", name], capture_output=True, text=True,
                            check=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from tuneforge.precision import resolve_precision

    native = resolve_precision("auto")
    models = {"MiniLM on SST-2, samples/s": ("tuneforge", "tuneforge_bf16"),
              "SmolLM2-135M, tokens/s": ("smollm2_fp32", "smollm2_bf16")}
    paths = [p for pair in models.values() for p in (pair if native.bf16 else pair[:1])]
    runs: dict[str, list[dict]] = {}
    for _ in range(args.rounds):
        for path in paths:
            for name in (path + "_kept_heap", path + "_default_heap"):
                result = in_new_process(name)
                runs.setdefault(name, []).append(result)
                speed = result.get("samples_per_second") or result["tokens_per_second"]
                print(name, f"{speed:.1f}", flush=True)

    def median(name: str) -> float:
        return statistics.median(r.get("samples_per_second") or r["tokens_per_second"] for r in runs[name])

    facts = machine()
    lines = [f"CPU: {facts['cpu']['model']} ({', '.join(facts['cpu']['flags'])}); torch threads "
             f"{facts['torch_threads']}", "",
             "| model, precision | freed memory kept | glibc's default heap | kept / default |", "|---|---:|---:|---:|"]
    for model, pair in models.items():
        for path, precision in zip(pair, ("fp32", "bf16")):
            if path in paths:
                kept, default = median(path + "_kept_heap"), median(path + "_default_heap")
                lines.append(f"| {model}, {precision} | {kept:.1f} | {default:.1f} | {kept / default:.2f}x |")
    if not native.bf16:
        lines.append(f"| bf16 rows | skipped: {native.reason} | | |")
    table = "\n".join(lines) + (
        f"\n\nMedian of {args.rounds} interleaved rounds, every path in a new process (`train_throughput.py --one`), "
        "the paths and timing of bench/train_throughput.py.\n")
    write_results("heap", {"machine": facts, "rounds": args.rounds, "runs": runs,
                           "median": {name: median(name) for name in runs}}, table)


if __name__ == "__main__":
    main()
