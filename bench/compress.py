"""Compression on SST-2: PyTorch fp32 vs ONNX fp32, ONNX int8, PyTorch int8, a pruned model, a 3-layer student.

Needs a bundle trained with ``tuneforge train configs/sst2.yaml`` (default: runs/sst2-accept/bundle).
Two pipeline runs, each timing its own fp32 original on the same inputs (real dev sentences):
(A) quantize + export of the bundle itself; (B) distillation into a student keeping 3 of 6 layers,
trained on the SST-2 training set; (C) magnitude pruning with a recovery epoch; (D) runtimes of the bundle
itself, interleaved: PyTorch fp32, PyTorch bf16 autocast (where the CPU has native bf16), and every export
variant (ONNX fp32, dynamic int8, static int8, OpenVINO fp32 and int8 weights), with the gate's verdict
and the variant ``--backend auto`` picks on this machine. Every variant is scored on the whole dev set; latency is
p50/p95 per batch at batch 1 (first 300 dev sentences) and batch 32 (all 872).
Usage: python bench/compress.py [--bundle runs/sst2-accept/bundle] [--distill-epochs 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, machine, write_results  # noqa: E402


def main() -> None:
    from tuneforge import api
    from tuneforge.compress import pipeline

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="runs/sst2-accept/bundle")
    parser.add_argument("--distill-epochs", type=float, default=1.0)
    parser.add_argument("--max-train-samples", type=int, default=None, help="distillation examples (default: all)")
    parser.add_argument("--prune", default="magnitude:0.5")
    parser.add_argument("--recovery-samples", type=int, default=8000, help="examples for pruning's recovery epoch")
    parser.add_argument("--only-runtimes", action="store_true", help="run (D) alone (no distillation or pruning)")
    args = parser.parse_args()
    pipeline.TIMED_TEXTS.update({1: 300, 32: 872})
    dev, train = SHARED_DATA / "sst2" / "dev.tsv", SHARED_DATA / "sst2" / "train.tsv"
    scratch = Path(tempfile.mkdtemp(prefix="bench-compress-"))
    if args.only_runtimes:
        runtimes = runtime_rows(args.bundle, scratch / "d", dev)
        write_results("compress_runtimes", {"machine": machine(), "args": vars(args), "runtimes": runtimes},
                      f"CPU: {machine()['cpu']['model']} ({', '.join(machine()['cpu']['flags'])})\n"
                      + runtime_table(runtimes))
        return
    quantized = api.compress(args.bundle, ["quantize", "export"], scratch / "a", dev, max_drop=100.0)
    print(json.dumps(quantized["rows"], indent=1), flush=True)
    distilled = api.compress(args.bundle, ["distill"], scratch / "b", dev, train, max_drop=100.0,
                             max_train_samples=args.max_train_samples,
                             distill_options={"layers": 3, "epochs": args.distill_epochs})
    pruned = api.compress(args.bundle, ["prune"], scratch / "c", dev, train, max_drop=100.0,
                          max_train_samples=args.recovery_samples,
                          prune_options={"spec": args.prune, "epochs": 1.0})
    runtimes = runtime_rows(args.bundle, scratch / "d", dev)
    rows = []
    for run, report in (("A", quantized), ("B", distilled), ("C", pruned)):
        base = report["rows"][0]
        for row in report["rows"]:
            speed = {f"speedup_b{n}": base["latency"][f"batch_{n}"]["p50_ms"] / row["latency"][f"batch_{n}"]["p50_ms"]
                     for n in (1, 32)}
            rows.append({"run": run, **row, **speed})
    lines = ["| run | variant | accuracy | drop (points) | MB | p50 ms b1 | p95 ms b1 | p50 ms b32 | p95 ms b32 | "
             "texts/s b32 | speed-up b1 | speed-up b32 |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        b1, b32 = r["latency"]["batch_1"], r["latency"]["batch_32"]
        lines.append(f"| {r['run']} | {r['variant']} | {r['score']:.4f} | {r['drop_points']:+.2f} | {r['mb']:.1f} | "
                     f"{b1['p50_ms']:.1f} | {b1['p95_ms']:.1f} | {b32['p50_ms']:.1f} | {b32['p95_ms']:.1f} | "
                     f"{b32['texts_per_second']:.0f} | {r['speedup_b1']:.2f}x | {r['speedup_b32']:.2f}x |")
    table = "\n".join(lines) + (
        "\n\nSST-2 dev (872 sentences). Speed-ups are p50 latency ratios against the fp32 PyTorch original timed in "
        "the same pipeline run (A: quantize + export; B: distillation; C: pruning). Batch 1: the first 300 dev sentences; "
        "batch 32: all 872. torch-int8 is dynamic int8 Linear layers; onnx-int8 is onnxruntime dynamic "
        f"quantization. Student: 3 of 6 layers (0, 2, 4), {args.distill_epochs} epoch(s) of distillation "
        f"(T=2, alpha=0.5) on SST-2 train. Pruned: {args.prune} of the encoder's Linear weights, then one "
        f"recovery epoch on {args.recovery_samples} training sentences (dense weights: no speed-up expected).\n")
    table += runtime_table(runtimes)
    write_results("compress", {"machine": machine(), "args": vars(args), "rows": rows, "runtimes": runtimes}, table)


def runtime_rows(bundle: str, folder: Path, dev: Path) -> dict:
    """(D): every runtime of the bundle timed on the same dev sentences, interleaved (2 rounds, best p50)."""
    import shutil

    from tuneforge import api
    from tuneforge.compress.measure import latency
    from tuneforge.precision import autocast, resolve_precision
    from tuneforge.predictor import Predictor
    from tuneforge.tasks import read_examples

    copy = folder / "bundle"
    shutil.copytree(bundle, copy)
    section = api.export(copy, dev, static_int8=True, openvino=True)
    examples = read_examples(dev, task_type="classification", text_column="sentence",
                             label_names=["negative", "positive"])
    texts = [e["text"] for e in examples]
    base = Predictor.load(copy, precision="fp32")
    models = {"torch-fp32": (base.model, "fp32")}
    if resolve_precision("auto").bf16:  # as the torch backend runs it: weights cast to bf16 once, autocast
        models["torch-bf16"] = (Predictor.load(copy, precision="bf16").computing_model(), "bf16")
    for name in section["variants"]:
        models[f"export-{name}"] = (Predictor.load(copy, backend="onnx", variant=name).model, "fp32")
    timings: dict[str, dict] = {name: {} for name in models}
    for _ in range(2):
        for name, (model, precision) in models.items():
            for size, count in ((1, 300), (32, 872)):
                with autocast(precision):
                    row = latency(model, base.tokenizer, texts[:count], size)
                best = timings[name].get(size)
                if best is None or row["p50_ms"] < best["p50_ms"]:
                    timings[name][size] = row
    score = {"torch-fp32": section.get("torch_accuracy")}
    if "torch-bf16" in models:
        with autocast("bf16"):
            predictions = base.task.predict(base.model, base.tokenizer, examples, base.label_names, max_length=128)
        score["torch-bf16"] = sum(p["label"] == e["label"] for p, e in zip(predictions, examples)) / len(examples)
    accepted = {"torch-fp32": True, "torch-bf16": True}
    for name, row in section["variants"].items():
        score[f"export-{name}"] = row.get("accuracy")
        accepted[f"export-{name}"] = row.get("accepted", True)
    picked = Predictor.load(copy, backend="auto").backend
    return {"timings": timings, "score": score, "accepted": accepted, "auto_picked": picked,
            "precision_auto": resolve_precision("auto").name}


def runtime_table(r: dict) -> str:
    """The markdown of (D)."""
    base = r["timings"]["torch-fp32"]
    lines = ["", "(D) runtimes of the bundle (best p50 of 2 interleaved rounds):", "",
             "| runtime | accuracy | accepted | p50 ms b1 | p50 ms b32 | speed-up b1 | speed-up b32 |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for name, t in r["timings"].items():
        acc = r["score"].get(name)
        lines.append(f"| {name} | {'-' if acc is None else f'{acc:.4f}'} | {'yes' if r['accepted'].get(name) else 'no'} | "
                     f"{t[1]['p50_ms']:.1f} | {t[32]['p50_ms']:.1f} | {base[1]['p50_ms'] / t[1]['p50_ms']:.2f}x | "
                     f"{base[32]['p50_ms'] / t[32]['p50_ms']:.2f}x |")
    lines.append(f"\n`--backend auto` picked: {r['auto_picked']}. Automatic precision on this CPU: {r['precision_auto']}.\n")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
