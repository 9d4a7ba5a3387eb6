"""Image bundle runtimes: PyTorch fp32 vs ONNX fp32, ONNX dynamic int8 and ONNX static int8 on Fashion-MNIST.

Needs a bundle trained with ``tuneforge train configs/fashion_mnist.yaml`` (default:
runs/fashion_mnist/bundle). The first ``--examples`` test images (default 2000) are written as IDX
files to a scratch folder; ``api.export`` exports the bundle (static int8 calibrated on training
images) and scores every variant on them (the parity gate's verdict at the default --max-drop 1 point
is recorded beside each); then every runtime is timed on the same prepared batches, interleaved
(2 rounds, best p50), at batch 1 (the first 200 images) and batch 32 (all of them). Speed-ups are
p50 ratios against PyTorch fp32 timed in the same run. The CPU model and flags are recorded.
Usage: python bench/images.py [--bundle runs/fashion_mnist/bundle] [--examples 2000]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, machine, write_results  # noqa: E402

FASHION = SHARED_DATA / "fashion-mnist"
MAX_DROP = 1.0  # points: the default of tuneforge export


def write_idx_subset(folder: Path, count: int) -> Path:
    """The first ``count`` Fashion-MNIST test images and labels as uncompressed IDX files in ``folder``."""
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    for kind, header in (("images", 16), ("labels", 8)):
        raw = gzip.decompress((FASHION / f"t10k-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz").read_bytes())
        data = np.frombuffer(raw[header:], np.uint8)
        name = f"t10k-{kind}-idx{3 if kind == 'images' else 1}-ubyte"
        if kind == "images":
            rows, cols = struct.unpack(">II", raw[8:16])
            body = data[: count * rows * cols].tobytes()
            head = struct.pack(">IIII", 0x803, count, rows, cols)
        else:
            body = data[:count].tobytes()
            head = struct.pack(">II", 0x801, count)
        (folder / name).write_bytes(head + body)
    return folder / "t10k-images-idx3-ubyte"


def main() -> None:
    from tuneforge import api
    from tuneforge.compress.measure import timed_batches
    from tuneforge.predictor import Predictor
    from tuneforge.tasks import read_examples

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="runs/fashion_mnist/bundle")
    parser.add_argument("--examples", type=int, default=2000)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-images-"))
    data = write_idx_subset(scratch / "data", args.examples)
    copy = scratch / "run" / "bundle"  # beside the run's config.yaml: static int8 calibrates on its training file
    shutil.copytree(args.bundle, copy)
    if (Path(args.bundle).parent / "config.yaml").is_file():
        shutil.copyfile(Path(args.bundle).parent / "config.yaml", copy.parent / "config.yaml")
    section = api.export(copy, data, static_int8=True, max_drop=100.0)  # keep every variant to time it
    base = Predictor.load(copy, precision="fp32")
    examples = read_examples(data, task_type="image_classification", label_names=base.label_names)
    pixels = base.tokenizer.pixels
    batches = {1: [{"pixel_values": pixels([e])} for e in examples[:200]],
               32: [{"pixel_values": pixels(examples[i:i + 32])} for i in range(0, len(examples), 32)]}
    models = {"torch-fp32": base.model}
    for name in section["variants"]:
        models[f"onnx-{name}"] = Predictor.load(copy, backend="onnx", variant=name).model
    timings: dict[str, dict] = {name: {} for name in models}
    for _ in range(2):
        for name, model in models.items():
            for size, ready in batches.items():
                row = timed_batches(model, ready, size)
                if size not in timings[name] or row["p50_ms"] < timings[name][size]["p50_ms"]:
                    timings[name][size] = row
    scores = {"torch-fp32": {"accuracy": section.get("torch_accuracy"), "drop_points": 0.0, "accepted": True}}
    for name, row in section["variants"].items():
        drop = row.get("drop_points")
        scores[f"onnx-{name}"] = {"accuracy": row.get("accuracy"), "drop_points": drop,
                                  "agreement": row.get("agreement"), "max_abs_diff": row.get("max_abs_diff"),
                                  "accepted": drop is not None and drop <= MAX_DROP}
    ref = timings["torch-fp32"]
    calibrated = section["variants"].get("static_int8", {}).get("calibrated_on", "-")
    lines = [f"CPU: {machine()['cpu']['model']} ({', '.join(machine()['cpu']['flags'])}), "
             f"{machine()['torch_threads']} torch threads", "",
             "| runtime | accuracy | drop (points) | gate (1 point) | p50 ms b1 | p50 ms b32 | images/s b32 | "
             "speed-up b1 | speed-up b32 |", "|---|---:|---:|---|---:|---:|---:|---:|---:|"]
    for name, t in timings.items():
        s = scores[name]
        lines.append(f"| {name} | {s['accuracy']:.4f} | {s['drop_points']:+.2f} | "
                     f"{'kept' if s['accepted'] else 'refused'} | {t[1]['p50_ms']:.2f} | {t[32]['p50_ms']:.1f} | "
                     f"{t[32]['texts_per_second']:.0f} | {ref[1]['p50_ms'] / t[1]['p50_ms']:.2f}x | "
                     f"{ref[32]['p50_ms'] / t[32]['p50_ms']:.2f}x |")
    size = base.tokenizer.image_size
    lines.append(f"\nFashion-MNIST test, first {args.examples} images at {size} x {size} pixels; bundle "
                 f"{args.bundle}. Batch 1: 200 images one at a time; batch 32: all {args.examples}. Best p50 of "
                 "2 interleaved rounds; speed-ups against PyTorch fp32 in the same run. int8: dynamic, the "
                 "head's Gemm only. static_int8: Conv, MatMul and Gemm, activation ranges calibrated on "
                 f"{calibrated}.\n")
    write_results("images", {"machine": machine(), "args": vars(args), "timings": timings, "scores": scores},
                  "\n".join(lines))


if __name__ == "__main__":
    main()
