"""``tuneforge compress``: distil, prune, quantize and export a bundle, each step checked against the original.

Steps run in the order given. After each, the new variant is evaluated on the evaluation data;
a variant whose score drops more than ``max_drop`` points below the original bundle's is rejected
(and reported), and later steps build on the last accepted model. The output is a bundle of the
last accepted model with its ONNX variants, plus ``compress.md``/``compress.json``: size on disk,
latency p50/p95 at batch 1 and 32, throughput and score for every variant.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ConfigError

log = logging.getLogger("tuneforge")

STEPS = ("distill", "prune", "quantize", "export")


def _score(predictor, examples, model=None) -> float:
    """The task's main metric of ``predictor`` (or of ``model`` in its place) on labelled examples."""
    from ..predictor import Predictor

    if model is not None:
        predictor = Predictor(model, predictor.tokenizer, predictor.manifest)
    metrics, _ = predictor.evaluate(examples)
    return float(metrics[predictor.task.default_metric])


def _size_mb(paths: list[Path]) -> float:
    return sum(p.stat().st_size for p in paths if p.is_file()) / 2**20


def _torch_size_mb(model) -> float:
    """Bytes of a model's state dict as torch would store it (written to a scratch file, never read back)."""
    import torch

    with tempfile.NamedTemporaryFile(suffix=".pt") as handle:
        torch.save(model.state_dict(), handle.name)
        return Path(handle.name).stat().st_size / 2**20


TIMED_TEXTS = {1: 100, 32: 320}  # texts timed at each batch size (the first of the evaluation data)


def _timings(model, tokenizer, texts: list[str], max_length: int) -> dict[str, Any]:
    from .measure import latency

    return {f"batch_{size}": latency(model, tokenizer, texts[:count], size, max_length)
            for size, count in TIMED_TEXTS.items()}


def _row(name, step, score, original, max_drop, size_mb, timings=None, note="") -> dict[str, Any]:
    drop = round(100 * (original - score), 3)
    return {"variant": name, "step": step, "score": score, "drop_points": drop, "accepted": drop <= max_drop,
            "mb": round(size_mb, 2), "latency": timings or {}, "note": note}


def render_table(rows: list[dict[str, Any]], metric: str) -> str:
    """The markdown table of variants."""
    from ..evaluation.report import markdown_table

    header = ["variant", "step", metric, "drop (points)", "accepted", "MB", "p50 ms b1", "p95 ms b1", "p50 ms b32",
              "p95 ms b32", "texts/s b32"]
    table = []
    for r in rows:
        b1, b32 = r["latency"].get("batch_1", {}), r["latency"].get("batch_32", {})
        cell = lambda d, k: f"{d[k]:.1f}" if k in d else "-"
        table.append([r["variant"], r["step"], f"{r['score']:.4f}", f"{r['drop_points']:+.2f}",
                      "yes" if r["accepted"] else "no", f"{r['mb']:.1f}", cell(b1, "p50_ms"), cell(b1, "p95_ms"),
                      cell(b32, "p50_ms"), cell(b32, "p95_ms"), cell(b32, "texts_per_second")])
    return markdown_table(header, table, right=(2, 3, 5, 6, 7, 8, 9, 10))


def _save_variant(out: Path, bundle, source, model, score: float, facts: dict[str, Any]) -> None:
    """Replace the output bundle with ``model`` (a plain transformers classifier) and its score."""
    from ..bundle import save_bundle
    from ..methods import DEFAULT_METHOD

    from ..bundle import MethodSection, ModelSection
    from ..methods import METHODS

    n = sum(p.numel() for p in model.parameters())
    plain = METHODS.get(DEFAULT_METHOD)()  # the compressed model is a plain (merged) model of the task
    options = plain.Options(name=DEFAULT_METHOD, merge=True)
    method = MethodSection.model_validate({"name": DEFAULT_METHOD, "options": options.model_dump(mode="json"),
                                           "merged": True, "trainable_parameters": n, "total_parameters": n, **facts})
    manifest = source.manifest.model_copy(update={
        "method": method, "model": ModelSection(kind=plain.model_kind(options, True)),
        "metrics": {"split": "evaluation", source.task.default_metric: score},
    })
    report = Path(bundle) / "report.md"
    shutil.rmtree(out)
    save_bundle(out, model, source.tokenizer, manifest, report.read_text(encoding="utf-8") if report.is_file() else None)


def compress_bundle(bundle: str | Path, out_dir: str | Path, steps: list[str], eval_examples: list[dict[str, Any]],
                    train_examples: list[dict[str, Any]] | None = None, max_drop: float = 1.0,
                    distill_options: dict[str, Any] | None = None,
                    prune_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Run ``steps`` on ``bundle``, write the output bundle to ``out_dir``; return the report.

    Example:
        >>> compress_bundle("runs/sst2/bundle", "runs/sst2/compressed", ["distill", "quantize", "export"],
        ...                 dev_examples, train_examples, max_drop=1.0)["final"]
        'onnx-int8'
    """
    from ..bundle import update_manifest
    from ..export.onnx_export import OnnxModel, export_bundle, exportable_model
    from ..predictor import Predictor
    from .distill import distill, train_student
    from .measure import example_text, torch_int8
    from .prune import make_permanent, parse_spec, prune_model, sparsity_of

    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        raise ConfigError(f"unknown compress steps {unknown}; available: {', '.join(STEPS)}")
    if ("distill" in steps or "prune" in steps) and not train_examples:
        raise ConfigError("the distill and prune steps need training data (--train FILE)")
    prune_options = dict(prune_options or {})
    prune_spec = prune_options.pop("spec", "magnitude:0.5")
    parse_spec(prune_spec)  # a bad spec fails before any work
    out = Path(out_dir)
    if out.exists():
        raise ConfigError(f"{out} exists; give a new --output folder")
    source = Predictor.load(bundle)
    teacher = exportable_model(source)
    metric = source.task.default_metric
    texts = [example_text(e) for e in eval_examples]
    original = _score(source, eval_examples, teacher)
    model_files = lambda root: list((Path(root) / "model").glob("*.safetensors"))
    rows = [_row("original", "-", original, original, max_drop, _size_mb(model_files(bundle)) or _torch_size_mb(teacher),
                 _timings(teacher, source.tokenizer, texts, source.max_length))]
    rows[0]["accepted"] = True  # the reference every step is measured against
    log.info("original %s %.4f", metric, original)
    current, current_score = teacher, original
    shutil.copytree(bundle, out)
    for step in steps:
        if step == "distill":
            options = {"layers": 3, **(distill_options or {})}
            student = distill(current, source.tokenizer, source.task, source.label_names, train_examples,
                              max_length=source.max_length, seed=42, **options)
            if options.get("unlabelled"):
                options["unlabelled"] = len(options["unlabelled"])  # the count goes into the manifest
            score = _score(source, eval_examples, student)
            row = _row(f"distilled-{student.config.num_hidden_layers}-layers", step, score, original, max_drop,
                       _torch_size_mb(student), _timings(student, source.tokenizer, texts, source.max_length))
            rows.append(row)
            log.info("distill: %s %.4f (drop %.2f points) %s", metric, score, row["drop_points"],
                     "accepted" if row["accepted"] else "rejected")
            if row["accepted"]:
                _save_variant(out, bundle, source, student, score, {"distilled": {
                    "layers": student.config.num_hidden_layers, **options}})
                current, current_score = student, score
        elif step == "prune":
            pruned, description = prune_model(current, prune_spec)
            pruned = make_permanent(train_student(pruned, current, source.tokenizer, source.task, source.label_names,
                                                  train_examples, max_length=source.max_length, **prune_options))
            score = _score(source, eval_examples, pruned)
            note = f"{description}; sparsity {sparsity_of(pruned):.2f}; recovery fine-tuned"
            row = _row(f"pruned-{prune_spec.replace(':', '-')}", step, score, original, max_drop,
                       _torch_size_mb(pruned), _timings(pruned, source.tokenizer, texts, source.max_length), note=note)
            rows.append(row)
            log.info("prune %s: %s %.4f (drop %.2f points) %s", prune_spec, metric, score, row["drop_points"],
                     "accepted" if row["accepted"] else "rejected")
            if row["accepted"]:
                _save_variant(out, bundle, source, pruned, score, {"pruned": {"spec": prune_spec, **prune_options}})
                current, current_score = pruned, score
        elif step == "quantize":
            quantized = torch_int8(current)
            score = _score(source, eval_examples, quantized)
            rows.append(_row("torch-int8", step, score, original, max_drop, _torch_size_mb(quantized),
                             _timings(quantized, source.tokenizer, texts, source.max_length),
                             note="dynamic int8 Linear layers, applied at load time"))
        elif step == "export":
            budget = max_drop - 100 * (original - current_score)
            section = export_bundle(out, eval_examples, quantize="quantize" in steps, max_drop=budget)
            for name, variant in section["variants"].items():
                onnx_model = OnnxModel(out / variant["file"])
                score = _score(source, eval_examples, onnx_model)
                rows.append(_row(f"onnx-{name}", step, score, original, max_drop, variant["mb"],
                                 _timings(onnx_model, source.tokenizer, texts, source.max_length)))
    accepted = [r for r in rows if r["accepted"] and r["variant"] != "original"]
    final = accepted[-1]["variant"] if accepted else "original"
    report = {"metric": metric, "original": original, "max_drop": max_drop, "steps": steps, "rows": rows,
              "final": final}
    table = render_table(rows, metric)
    (out / "compress.md").write_text(f"# Compression of {bundle}\n\n{table}\n\nfinal variant: {final}\n", encoding="utf-8")
    (out / "compress.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    update_manifest(out, compress={"final": final, "metric": metric, "original": original,
                                   "variants": {r["variant"]: {"score": r["score"], "accepted": r["accepted"]} for r in rows}})
    return report
