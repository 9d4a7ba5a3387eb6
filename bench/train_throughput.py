"""Training throughput on SST-2 sentences: TuneForge's path against two plain-Trainer baselines.

(a) tuneforge: our task encoding, collator and TrainingArguments (the code `tuneforge train` runs);
(b) baseline: a plain Trainer, every example padded to max_length=128, as common tutorials do;
(c) dynamic: a Trainer with DataCollatorWithPadding and length-grouped batches.

Same model (the default backbone), same sentences, same batch size and seed, one process.
Each path trains a fixed number of steps; the first steps are a warm-up and are not timed.
Usage: python bench/train_throughput.py [--samples 2048] [--batch-size 32] [--repeats 2]
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

WARMUP_STEPS = 3


class StepTimer:
    """A TrainerCallback that times the steps after the warm-up."""

    def __init__(self):
        from transformers import TrainerCallback

        timer = self

        class _Callback(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == WARMUP_STEPS:
                    timer.start = time.perf_counter()
                    timer.start_step = state.global_step

            def on_train_end(self, args, state, control, **kwargs):
                timer.end = time.perf_counter()
                timer.end_step = state.global_step

        self.callback = _Callback()

    def seconds_per_step(self) -> float:
        return (self.end - self.start) / (self.end_step - self.start_step)


def sst2_sentences(n: int, seed: int) -> list[dict]:
    from tuneforge.tasks import read_examples

    examples = read_examples(SHARED_DATA / "sst2" / "train.tsv", task_type="classification",
                             text_column="sentence", label_names=["negative", "positive"])
    return random.Random(seed).sample(examples, n)


def run_path(name: str, examples: list[dict], batch_size: int, seed: int) -> dict:
    from datasets import Dataset
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding,
                              Trainer, TrainingArguments, default_data_collator, set_seed)
    from transformers.utils import logging as hf_logging

    from tuneforge.backbone import resolve_backbone
    from tuneforge.config import build_config
    from tuneforge.tasks import get_task
    from tuneforge.training.arguments import training_arguments

    hf_logging.set_verbosity_error()
    set_seed(seed)
    path = resolve_backbone("default")
    tokenizer = AutoTokenizer.from_pretrained(path)
    labels = ["negative", "positive"]
    steps = len(examples) // batch_size
    out = tempfile.mkdtemp(prefix=f"bench-{name}-")
    common = dict(output_dir=out, per_device_train_batch_size=batch_size, max_steps=steps, learning_rate=5e-5,
                  seed=seed, save_strategy="no", eval_strategy="no", report_to="none", disable_tqdm=True,
                  dataloader_pin_memory=False, logging_strategy="no")
    if name == "tuneforge":
        task = get_task("classification")
        cfg = build_config({"data": {"train": "unused.tsv"},
                            "train": {"batch_size": batch_size, "max_steps": steps, "learning_rate": 5e-5, "seed": seed}})
        model = task.build_model(path, labels)
        dataset = task.encode(examples, tokenizer, labels, 128)
        args = training_arguments(cfg, Path(out), metric="accuracy")
        args.eval_strategy = args.save_strategy = "no"
        args.load_best_model_at_end = False
        args.disable_tqdm = True
        args.logging_strategy = "no"
        collator = task.collator(tokenizer)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
        texts = [e["text"] for e in examples]
        label_ids = [labels.index(e["label"]) for e in examples]
        if name == "baseline_pad128":
            enc = tokenizer(texts, padding="max_length", truncation=True, max_length=128)
            dataset = Dataset.from_dict({**enc, "labels": label_ids})
            collator = default_data_collator
            args = TrainingArguments(**common)
        else:
            enc = tokenizer(texts, truncation=True, max_length=128)
            dataset = Dataset.from_dict({**enc, "labels": label_ids})
            collator = DataCollatorWithPadding(tokenizer)
            args = TrainingArguments(**common, train_sampling_strategy="group_by_length")
    timer = StepTimer()
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=collator,
                      processing_class=tokenizer, callbacks=[timer.callback])
    trainer.train()
    seconds = timer.seconds_per_step()
    return {"path": name, "seconds_per_step": seconds, "samples_per_second": batch_size / seconds,
            "timed_steps": timer.end_step - timer.start_step}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--baseline-samples", type=int, default=640, help="fewer for the slow pad-to-128 baseline")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each fast path; the median counts")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    examples = sst2_sentences(args.samples, args.seed)
    runs: dict[str, list[dict]] = {"tuneforge": [], "dynamic_grouped": [], "baseline_pad128": []}
    runs["baseline_pad128"].append(run_path("baseline_pad128", examples[: args.baseline_samples], args.batch_size, args.seed))
    for _ in range(args.repeats):  # interleave so drift in machine load hits both fast paths alike
        for name in ("tuneforge", "dynamic_grouped"):
            runs[name].append(run_path(name, examples, args.batch_size, args.seed))
            print(name, f"{runs[name][-1]['samples_per_second']:.1f} samples/s", flush=True)
    rate = {name: statistics.median(r["samples_per_second"] for r in rs) for name, rs in runs.items()}
    base = rate["baseline_pad128"]
    labels = {"tuneforge": "(a) TuneForge path", "baseline_pad128": "(b) Trainer, pad to 128",
              "dynamic_grouped": "(c) Trainer, dynamic padding + length grouping"}
    lines = ["| path | samples/s | seconds/step | speed-up vs (b) |", "|---|---:|---:|---:|"]
    for name in ("tuneforge", "baseline_pad128", "dynamic_grouped"):
        lines.append(f"| {labels[name]} | {rate[name]:.1f} | {args.batch_size / rate[name]:.3f} | {rate[name] / base:.2f}x |")
    table = "\n".join(lines) + (
        f"\n\nSST-2 train sentences ({args.samples} sampled, seed {args.seed}; {args.baseline_samples} for (b)), "
        f"batch {args.batch_size}, default backbone, median of {args.repeats} runs for (a) and (c), "
        f"first {WARMUP_STEPS} steps untimed. (a)/(c) = {rate['tuneforge'] / rate['dynamic_grouped']:.2f}.\n"
    )
    write_results("train_throughput", {"machine": machine(), "args": vars(args), "runs": runs,
                                       "samples_per_second": rate,
                                       "speedup_vs_baseline": {k: v / base for k, v in rate.items()}}, table)


if __name__ == "__main__":
    main()
