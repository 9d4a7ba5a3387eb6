"""Training throughput on SST-2 sentences: TuneForge's path against two plain-Trainer baselines.

(a) tuneforge: our task encoding, collator and TrainingArguments (the code `tuneforge train` runs);
(b) baseline: a plain Trainer, every example padded to max_length=128, as common tutorials do;
(c) dynamic: a Trainer with DataCollatorWithPadding and length-grouped batches;
(d) tuneforge bf16: path (a) under bf16 autocast (``train.precision: bf16``), only where the CPU has
    native bf16 (AMX-BF16 or AVX512-BF16; elsewhere the row is skipped and the table says why).
(e) tuneforge compile: path (a) with ``train.compile: true`` (torch.compile, inductor);
(f) tuneforge unfused: path (a) with ``train.fused_optimizer: false`` (adamw_torch instead of the fused kernel);
(g), (h) tuneforge with mask dropout: paths (a) and (d) with ``train.mask_dropout: true``;
(i) tuneforge bf16 compile: path (d) with ``train.compile: true`` (compared with (e), the same path in fp32).
Path (a) runs in fp32 explicitly. The TuneForge paths train with the run's Trainer class (``run_trainer_class``:
the task's loss, gradient clipping folded into fused AdamW).
Then SmolLM2-135M-Instruct through the same Trainer arguments (full fine-tuning, batch 4 x 256-token DialogSum conversations, fused AdamW, the generation task's Trainer: loss
at the summary tokens only) in fp32, bf16 autocast (where native), fp32 compiled and bf16 compiled,
interleaved: tokens per second. The TuneForge paths keep freed memory in the heap while they train where
``tuneforge train`` does (training/heap.py: models of 100M parameters or more, so SmolLM2 and not the
encoder). ``--one NAME`` times one path alone and prints it as JSON, for bench/heap.py: ``NAME_kept_heap``
and ``NAME_default_heap`` force either heap, ``smollm2_`` + an LLM path is SmolLM2.

Same model (the default backbone), same sentences, same batch size and seed, one process.
Each path trains a fixed number of steps; the first steps are a warm-up and are not timed.
Usage: python bench/train_throughput.py [--samples 2048] [--batch-size 32] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
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


def heap_kept(name: str, model) -> bool:
    """Whether path ``name`` trains with freed memory kept: as ``tuneforge train`` decides for TuneForge paths
    (never for the Trainer baselines), unless the name forces it (``_kept_heap`` / ``_default_heap``)."""
    from tuneforge.training.heap import pays_for

    if name.endswith(("_kept_heap", "_default_heap")):
        return name.endswith("_kept_heap")
    return name.startswith("tuneforge") and pays_for(model)


def run_path(name: str, examples: list[dict], batch_size: int, seed: int, callbacks: tuple = ()) -> dict:
    """Train path ``name`` over ``examples`` (see the module docstring) and time its steps."""
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        default_data_collator,
        set_seed,
    )
    from transformers.utils import logging as hf_logging

    from tuneforge.backbone import resolve_backbone
    from tuneforge.config import build_config
    from tuneforge.tasks import get_task
    from tuneforge.training.arguments import training_arguments
    from tuneforge.training.heap import freed_memory_kept
    from tuneforge.training.mask_dropout import for_training
    from tuneforge.training.run import run_trainer_class

    hf_logging.set_verbosity_error()
    set_seed(seed)
    path = resolve_backbone("default")
    trainer_class = Trainer
    tokenizer = AutoTokenizer.from_pretrained(path)
    labels = ["negative", "positive"]
    steps = len(examples) // batch_size
    out = tempfile.mkdtemp(prefix=f"bench-{name}-")
    common = dict(output_dir=out, per_device_train_batch_size=batch_size, max_steps=steps, learning_rate=5e-5,
                  seed=seed, save_strategy="no", eval_strategy="no", report_to="none", disable_tqdm=True,
                  dataloader_pin_memory=False, logging_strategy="no")
    if name.startswith("tuneforge"):
        task = get_task("classification")
        precision = "bf16" if "bf16" in name else "fp32"
        cfg = build_config({"data": {"train": "unused.tsv"},
                            "train": {"batch_size": batch_size, "max_steps": steps, "learning_rate": 5e-5, "seed": seed,
                                      "precision": precision, "compile": name.endswith("compile"),
                                      "mask_dropout": name.endswith("mask"),
                                      "fused_optimizer": not name.endswith("unfused")}})
        model = for_training(task.build_model(path, labels).model, cfg.train)
        dataset = task.encode(examples, tokenizer, labels, 128)
        args = training_arguments(cfg, Path(out), metric="accuracy")
        args.eval_strategy = args.save_strategy = "no"
        args.load_best_model_at_end = False
        args.disable_tqdm = True
        args.logging_strategy = "no"
        collator = task.collator(tokenizer)
        trainer_class = run_trainer_class(task, Trainer)
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
    trainer = trainer_class(model=model, args=args, train_dataset=dataset, data_collator=collator,
                            processing_class=tokenizer, callbacks=[timer.callback, *callbacks])
    with freed_memory_kept(heap_kept(name, model)):
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
    parser.add_argument("--llm-steps", type=int, default=6, help="timed SmolLM2 steps per precision and repeat")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # time this one path and print it as JSON (internal)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_llm_path(args.one.removeprefix("smollm2_"), llm_dataset(args.llm_steps), 4, 42)
                         if args.one.startswith("smollm2_") else
                         run_path(args.one, sst2_sentences(args.samples, args.seed), args.batch_size, args.seed)))
        return
    from tuneforge.precision import resolve_precision

    native = resolve_precision("auto")
    examples = sst2_sentences(args.samples, args.seed)
    fast = ["tuneforge", "dynamic_grouped", "tuneforge_compile", "tuneforge_unfused", "tuneforge_mask"] + (
        ["tuneforge_bf16", "tuneforge_bf16_mask", "tuneforge_bf16_compile"] if native.bf16 else [])
    runs: dict[str, list[dict]] = {name: [] for name in fast + ["baseline_pad128"]}
    runs["baseline_pad128"].append(run_path("baseline_pad128", examples[: args.baseline_samples], args.batch_size, args.seed))
    for _ in range(args.repeats):  # interleave so drift in machine load hits the fast paths alike
        for name in fast:
            runs[name].append(run_path(name, examples, args.batch_size, args.seed))
            print(name, f"{runs[name][-1]['samples_per_second']:.1f} samples/s", flush=True)
    rate = {name: statistics.median(r["samples_per_second"] for r in rs) for name, rs in runs.items()}
    base = rate["baseline_pad128"]
    labels = {"tuneforge": "(a) TuneForge path (fp32)", "baseline_pad128": "(b) Trainer, pad to 128",
              "dynamic_grouped": "(c) Trainer, dynamic padding + length grouping",
              "tuneforge_bf16": "(d) TuneForge path, bf16 autocast",
              "tuneforge_compile": "(e) TuneForge path, torch.compile", "tuneforge_unfused": "(f) TuneForge path, unfused AdamW",
              "tuneforge_mask": "(g) TuneForge path, mask dropout (`mask_dropout: true`)",
              "tuneforge_bf16_mask": "(h) TuneForge path, bf16 autocast, mask dropout",
              "tuneforge_bf16_compile": "(i) TuneForge path, bf16 autocast, torch.compile"}
    facts = machine()
    lines = [f"CPU: {facts['cpu']['model']} ({', '.join(facts['cpu']['flags'])}); torch threads "
             f"{facts['torch_threads']}; auto precision here: {native.name} ({native.reason})", "",
             "| path | samples/s | seconds/step | speed-up vs (b) |", "|---|---:|---:|---:|"]
    for name in labels:
        if name in rate:
            lines.append(f"| {labels[name]} | {rate[name]:.1f} | {args.batch_size / rate[name]:.3f} | "
                         f"{rate[name] / base:.2f}x |")
        else:
            lines.append(f"| {labels[name]} | skipped: no native bf16 on this CPU | | |")
    notes = f"(a)/(c) = {rate['tuneforge'] / rate['dynamic_grouped']:.2f}"
    if "tuneforge_bf16" in rate:
        notes += (f"; (d)/(a) = {rate['tuneforge_bf16'] / rate['tuneforge']:.2f} (bf16 against fp32); (h)/(g) = "
                  f"{rate['tuneforge_bf16_mask'] / rate['tuneforge_mask']:.2f} (the same with mask dropout); (h)/(d) = "
                  f"{rate['tuneforge_bf16_mask'] / rate['tuneforge_bf16']:.2f} (mask dropout in bf16); (i)/(e) = "
                  f"{rate['tuneforge_bf16_compile'] / rate['tuneforge_compile']:.2f} (bf16 against fp32, both "
                  f"compiled); (i)/(a) = {rate['tuneforge_bf16_compile'] / rate['tuneforge']:.2f}")
    notes += (f"; (e)/(a) = {rate['tuneforge_compile'] / rate['tuneforge']:.2f} (compile, timed after {WARMUP_STEPS} "
              f"warm-up steps, recompilations for new shapes included); (f)/(a) = "
              f"{rate['tuneforge_unfused'] / rate['tuneforge']:.2f} (unfused against fused AdamW); (g)/(a) = "
              f"{rate['tuneforge_mask'] / rate['tuneforge']:.2f} (mask dropout against PyTorch's)")
    table = "\n".join(lines) + (
        f"\n\nSST-2 train sentences ({args.samples} sampled, seed {args.seed}; {args.baseline_samples} for (b)), "
        f"batch {args.batch_size}, default backbone, median of {args.repeats} runs for (a), (c) and (d), "
        f"first {WARMUP_STEPS} steps untimed. {notes}.\n"
    )
    llm = llm_rows(args, native.bf16) if args.llm_steps else []
    if llm:
        speed = {p: statistics.median(r["tokens_per_second"] for r in llm if r["path"] == p)
                 for p in LLM_PATHS if any(r["path"] == p for r in llm)}
        names = {"fp32": "fp32", "bf16": "bf16 autocast", "compile": "fp32, torch.compile",
                 "bf16_compile": "bf16 autocast, torch.compile"}
        table += ("\n| SmolLM2-135M full fine-tuning, TuneForge path (batch 4 x 256 tokens) | tokens/s | vs fp32 |\n"
                  "|---|---:|---:|\n" + "".join(f"| {names[p]} | {v:.0f} | {v / speed['fp32']:.2f}x |\n"
                                                 for p, v in speed.items())
                  + f"\nMedian of {args.repeats} interleaved runs of {args.llm_steps} timed steps after "
                  f"{WARMUP_STEPS} warm-up steps (compilation included in the warm-up). fp32 and bf16 project only the "
                  "summary tokens onto the vocabulary (training/answer_loss.py); the compiled model keeps its own loss "
                  "over every position (the shortcut would step around the compiled forward).\n")
        if "bf16_compile" in speed:
            table += (f"bf16 against fp32, both compiled: {speed['bf16_compile'] / speed['compile']:.2f}x.\n")
        if "bf16" not in speed:
            table += "The bf16 row was skipped: no native bf16 on this CPU (bf16 would be emulated, slower than fp32).\n"
    write_results("train_throughput", {"machine": facts, "auto_precision": native.__dict__, "args": vars(args),
                                       "runs": runs, "samples_per_second": rate, "llm": llm,
                                       "speedup_vs_baseline": {k: v / base for k, v in rate.items()}}, table)


LLM_PATHS = ("fp32", "bf16", "compile", "bf16_compile")  # compile: fp32 with torch.compile


def llm_dataset(steps: int, batch: int = 4, tokens: int = 256):
    """DialogSum conversations as SmolLM2 training examples, only those filling all ``tokens`` (cut at
    ``tokens``), so every batch is ``batch`` x ``tokens`` and tokens/s = samples/s x ``tokens``."""
    import json
    import logging

    from tuneforge.backbone import resolve_backbone
    from tuneforge.model_files import load_tokenizer
    from tuneforge.tasks import get_task

    task = get_task("generation").with_options(get_task("generation").Options(type="generation"))
    path = resolve_backbone(task.default_backbone)
    tokenizer = load_tokenizer(path)
    task.prepare_tokenizer(tokenizer)
    rows = [json.loads(line) for line in (SHARED_DATA / "dialogsum" / "dialogsum.train.jsonl").open()][: 40 * batch * steps]
    examples = [{"messages": [{"role": "user", "content": "Summarize the following dialogue.\n\n" + r["dialogue"]},
                              {"role": "assistant", "content": r["summary"]}]} for r in rows]
    logging.getLogger("tuneforge").setLevel(logging.ERROR)  # the truncation warning is the point here
    dataset = task.encode(examples, tokenizer, [], tokens)
    dataset = dataset.select([i for i, n in enumerate(dataset["length"]) if n == tokens][: batch * (steps + WARMUP_STEPS)])
    return task, path, tokenizer, dataset


def run_llm_path(name: str, prepared, batch: int, seed: int, callbacks: tuple = ()) -> dict:
    """SmolLM2 full fine-tuning through TuneForge's Trainer arguments in precision ``name`` (or compile)."""
    from transformers import Trainer, set_seed
    from transformers.utils import logging as hf_logging

    from tuneforge.config import build_config
    from tuneforge.training.arguments import training_arguments
    from tuneforge.training.heap import freed_memory_kept
    from tuneforge.training.mask_dropout import for_training
    from tuneforge.training.run import run_trainer_class

    task, path, tokenizer, dataset = prepared
    hf_logging.set_verbosity_error()
    set_seed(seed)
    steps = len(dataset) // batch
    out = tempfile.mkdtemp(prefix=f"bench-smollm2-{name}-")
    cfg = build_config({"data": {"train": "unused.jsonl"}, "task": {"type": "generation"},
                        "train": {"batch_size": batch, "max_steps": steps, "learning_rate": 1e-5, "seed": seed,
                                  "precision": "bf16" if "bf16" in name else "fp32", "compile": "compile" in name}})
    args = training_arguments(cfg, Path(out), metric="loss", greater_is_better=False, group_by_length=False)
    args.eval_strategy = args.save_strategy = "no"
    args.load_best_model_at_end = False
    args.disable_tqdm = True
    args.logging_strategy = "no"
    timer = StepTimer()
    model = for_training(task.build_model(path, []).model, cfg.train)  # as tuneforge train (SmolLM2 has no dropout)
    trainer = run_trainer_class(task, Trainer)(model=model, args=args, train_dataset=dataset,
                      data_collator=task.collator(tokenizer), processing_class=tokenizer,
                      callbacks=[timer.callback, *callbacks])
    with freed_memory_kept(heap_kept("tuneforge_" + name, model)):
        trainer.train()
    seconds = timer.seconds_per_step()
    tokens = batch * len(dataset[0]["input_ids"])
    return {"path": name, "seconds_per_step": seconds, "tokens_per_second": tokens / seconds,
            "timed_steps": timer.end_step - timer.start_step}


def llm_rows(args, bf16: bool) -> list[dict]:
    """SmolLM2 full fine-tuning tokens/s in fp32, under bf16 autocast (where native) and compiled,
    interleaved, same batches (batch 4 x 256 tokens)."""
    prepared = llm_dataset(args.llm_steps)
    out = []
    for _ in range(args.repeats):
        for name in LLM_PATHS:
            if "bf16" in name and not bf16:
                continue
            out.append(run_llm_path(name, prepared, 4, 42))
            print("smollm2", name, f"{out[-1]['tokens_per_second']:.0f} tokens/s", flush=True)
    return out


if __name__ == "__main__":
    main()
