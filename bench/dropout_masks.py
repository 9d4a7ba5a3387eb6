"""Mask dropout against PyTorch's dropout: training steps of the default encoder on longer inputs.

The default backbone (dropout 0.1 on hidden states and attention probabilities) trained by hand-written
steps (forward, backward, fused AdamW) on batches of 32 SST-2 train sentences joined until they fill
``--lengths`` tokens (a third of the rows padded to two thirds of that), in fp32 and, where the CPU has
native bf16, under bf16 autocast; each with PyTorch's dropout and with ``training/mask_dropout.py``.
Interleaved rounds, the best median step time of each kept. Writes bench/results/dropout_masks.{json,md}.

Usage: python bench/dropout_masks.py [--lengths 32 64 128] [--rounds 2] [--steps 8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, machine, write_results  # noqa: E402


def batch(tokenizer, length: int):
    """32 rows of SST-2 train text, ``length`` tokens each; a third padded from two thirds on."""
    import torch

    lines = (SHARED_DATA / "sst2" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:2000]
    text = " ".join(line.split("\t")[0] for line in lines)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    rows = torch.tensor([ids[i * length:(i + 1) * length] for i in range(32)])
    mask = torch.ones_like(rows)
    mask[::3, length * 2 // 3:] = 0
    return {"input_ids": rows, "attention_mask": mask, "labels": torch.arange(32) % 2}


def seconds_per_step(path: str, inputs: dict, bf16: bool, masks: bool, steps: int) -> float:
    """Median seconds of ``steps`` training steps after 3 untimed ones."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from tuneforge.training.mask_dropout import mask_dropout

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    if masks:
        mask_dropout(model)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    times = []
    for step in range(steps + 3):
        started = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(**inputs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step >= 3:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    from tuneforge.backbone import resolve_backbone
    from tuneforge.precision import resolve_precision

    hf_logging.set_verbosity_error()
    path = resolve_backbone("default")
    tokenizer = AutoTokenizer.from_pretrained(path)
    precisions = ["fp32"] + (["bf16"] if resolve_precision("auto").bf16 else [])
    best: dict[str, float] = {}
    for _ in range(args.rounds):
        for length in args.lengths:
            inputs = batch(tokenizer, length)
            for precision in precisions:
                for masks in (False, True):
                    key = f"{length}/{precision}/{'mask' if masks else 'torch'}"
                    seconds = seconds_per_step(path, inputs, precision == "bf16", masks, args.steps)
                    best[key] = min(best.get(key, seconds), seconds)
                    print(key, f"{seconds * 1e3:.0f} ms/step", flush=True)
    facts = machine()
    lines = [f"CPU: {facts['cpu']['model']} ({', '.join(facts['cpu']['flags'])}); torch threads "
             f"{facts['torch_threads']}", "",
             "| tokens | precision | PyTorch dropout ms/step | mask dropout ms/step | speed-up |", "|---:|---|---:|---:|---:|"]
    for length in args.lengths:
        for precision in precisions:
            plain, masked = best[f"{length}/{precision}/torch"], best[f"{length}/{precision}/mask"]
            lines.append(f"| {length} | {precision} | {plain * 1e3:.0f} | {masked * 1e3:.0f} | {plain / masked:.2f}x |")
    if "bf16" not in precisions:
        lines.append("\nbf16 rows skipped: no native bf16 on this CPU.")
    table = "\n".join(lines) + (f"\n\nDefault backbone, batch 32, hand-written training steps (fused AdamW), median of "
                                f"{args.steps} steps after 3 untimed, best of {args.rounds} interleaved rounds.\n")
    write_results("dropout_masks", {"machine": facts, "args": vars(args), "ms_per_step": {k: v * 1e3 for k, v in best.items()}},
                  table)


if __name__ == "__main__":
    main()
