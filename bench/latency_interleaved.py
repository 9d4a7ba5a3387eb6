"""Head-to-head latency of a teacher bundle and its compressed variants, timed interleaved.

``bench/compress.py`` times each variant when its pipeline step ends, minutes after the original:
machine drift lands in the ratios. Here every model runs on the same batch one after another
(the order rotating per batch), so drift hits all of them alike. Models: the teacher in PyTorch,
each ``--variant`` bundle in PyTorch, and the ONNX variants of any bundle that has them.
Usage: python bench/latency_interleaved.py --teacher runs/sst2-accept/bundle --variant /tmp/.../b [--variant ...]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, machine, write_results  # noqa: E402


def load_models(teacher: str, variants: list[str]) -> tuple[dict, object]:
    from tuneforge.export.onnx_export import OnnxModel
    from tuneforge.predictor import Predictor

    models, tokenizer = {}, None
    for label, path in [("teacher", teacher)] + [(Path(v).name, v) for v in variants]:
        predictor = Predictor.load(path)
        tokenizer = tokenizer or predictor.tokenizer
        layers = predictor.model.config.num_hidden_layers
        models[f"{label} torch fp32 ({layers} layers)"] = predictor.model.eval()
        for name, variant in (predictor.manifest.get("onnx") or {}).get("variants", {}).items():
            models[f"{label} onnx {name} ({layers} layers)"] = OnnxModel(Path(path) / variant["file"])
    return models, tokenizer


def interleaved(models: dict, tokenizer, texts: list[str], batch_size: int, rounds: int) -> dict[str, list[float]]:
    import torch

    names = {"input_ids", "attention_mask", "token_type_ids"}
    batches = []
    for i in range(0, len(texts), batch_size):
        encoded = tokenizer(texts[i : i + batch_size], padding=True, truncation=True, max_length=128, return_tensors="pt")
        batches.append({k: v for k, v in encoded.items() if k in names})
    times = {name: [] for name in models}
    order = list(models)
    with torch.inference_mode():
        for name in order:  # warm-up
            for batch in batches[:3]:
                models[name](**batch)
        for _ in range(rounds):
            for j, batch in enumerate(batches):
                rotated = order[j % len(order):] + order[: j % len(order)]
                for name in rotated:
                    started = time.perf_counter()
                    models[name](**batch)
                    times[name].append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="runs/sst2-accept/bundle")
    parser.add_argument("--variant", action="append", default=[])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with open(SHARED_DATA / "sst2" / "dev.tsv", newline="", encoding="utf-8") as handle:
        texts = [row["sentence"] for row in csv.DictReader(handle, delimiter="\t")]
    models, tokenizer = load_models(args.teacher, args.variant)
    results = {}
    for batch_size, count in ((1, 300), (32, len(texts))):
        times = interleaved(models, tokenizer, texts[:count], batch_size, args.rounds)
        results[batch_size] = {name: 1000 * statistics.median(t) for name, t in times.items()}
    base = next(iter(models))
    lines = ["| model | p50 ms b1 | speed-up b1 | p50 ms b32 | speed-up b32 |", "|---|---:|---:|---:|---:|"]
    for name in models:
        lines.append(f"| {name} | {results[1][name]:.2f} | {results[1][base] / results[1][name]:.2f}x | "
                     f"{results[32][name]:.1f} | {results[32][base] / results[32][name]:.2f}x |")
    table = "\n".join(lines) + (f"\n\nSST-2 dev sentences (batch 1: first 300; batch 32: all 872), {args.rounds} rounds, "
                                "every model on each batch in rotating order; speed-ups against the teacher in PyTorch fp32.\n")
    write_results("latency_interleaved", {"machine": machine(), "args": vars(args),
                                          "p50_ms": {str(k): v for k, v in results.items()}}, table)


if __name__ == "__main__":
    main()
