"""ONNX export of a bundle, checked against the PyTorch model it came from.

1. The bundle's model (adapters merged first where the method allows it) is exported with dynamic
   batch and sequence axes, then optimised by ONNX Runtime (graph optimisations saved offline).
2. Parity on real evaluation inputs: the largest absolute logit difference must be at most
   ``max_abs_diff`` (1e-4 for fp32) and the predictions must agree on at least ``min_agreement``
   (99.9%) of the examples. A failed check deletes the export and raises with the figures.
3. Optionally further variants: dynamic int8 (onnxruntime.quantization), static int8 (QDQ, calibrated),
   OpenVINO fp32 and int8 weights (``calibrated.py``); each one's accuracy is measured on the same data
   and it is accepted only when it drops at most ``max_drop`` points.

The files go into the bundle (``onnx/model.onnx``, ``onnx/model.int8.onnx``, ``onnx/model.qdq.onnx``,
``openvino/``) and the manifest records the figures, so ``predict``/``evaluate --backend onnx`` can load
a variant and ``--backend auto`` the fastest accepted one.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .calibrated import (
    CALIBRATION_EXAMPLES,
    OPENVINO_FORMS,
    calibration_batches,
    export_openvino,
    quantize_static_int8,
)
from .onnx_runtime import ExportError, OnnxModel, _onnxruntime  # noqa: F401  (OnnxModel: part of this module's API)
from .parity import compare  # noqa: F401  (part of this module's API)

log = logging.getLogger("tuneforge")

ONNX_DIR = "onnx"
OPENVINO_DIR = "openvino"
MIN_VARIANT_AGREEMENT = 0.99
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")


class _LogitsOnly(nn.Module):
    """Positional inputs -> logits, the signature ``torch.onnx.export`` traces."""

    def __init__(self, model, names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.names = names

    def forward(self, *inputs):
        return self.model(**dict(zip(self.names, inputs))).logits


def exportable_model(predictor):
    """The bundle's model as a plain module to export: adapters merged where the method can."""
    from ..methods import METHODS

    model = predictor.model
    section = predictor.manifest.method
    method = METHODS.get(section.name)()
    options = method.Options.model_validate(section.options)
    if not method.can_export(options):
        raise ExportError(f"method {section.name} builds its inputs in Python and cannot be exported to ONNX")
    if not section.merged and method.can_merge:
        model = method.merge(model)
    return model.eval()


def export_model(model, tokenizer, path: Path, opset: int = 17, task=None) -> list[str]:
    """Trace ``model`` to ONNX at ``path`` with dynamic batch (and sequence) axes; return its input names.
    The inputs are the tokenizer's for text, or ``task.export_sample`` (images)."""
    sample = task.export_sample(tokenizer) if task is not None else None
    if sample is not None:
        names, inputs, axes = sample
    else:
        names = [n for n in INPUT_NAMES if n in tokenizer.model_input_names]
        encoded = tokenizer(["a short example", "and a second, somewhat longer example text"], padding=True,
                            return_tensors="pt")
        inputs = tuple(encoded[n] for n in names)
        axes = {n: {0: "batch", 1: "sequence"} for n in names}
    with torch.no_grad():
        logits = model(**dict(zip(names, inputs))).logits
    axes["logits"] = {0: "batch", 1: "sequence"} if logits.dim() == 3 else {0: "batch"}
    wrapper = _LogitsOnly(model, names).eval()  # eval on the wrapper too: the exporter reads its mode
    try:
        torch.onnx.export(wrapper, inputs, str(path), input_names=names, output_names=["logits"],
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    except Exception as exc:  # the exporter raises many types; the user needs the reason, not a trace
        raise ExportError(f"ONNX export failed: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from None
    return names


def optimise(source: Path, target: Path) -> None:
    """Apply ONNX Runtime's graph optimisations (portable level) and save the result."""
    ort = _onnxruntime()
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(target)
    ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])


def quantize_int8(source: Path, target: Path, op_types: tuple[str, ...] | None = None) -> None:
    """Dynamic int8 quantization of weights, one scale per output channel, on the nodes of ``op_types``
    (None: ONNX Runtime's own set: MatMul, Gather, Attention, ... and Conv; a task narrows it).

    Per-channel scales keep SST-2 dev accuracy of the MiniLM classifier within 0.4 points, where one
    scale per tensor loses 1.4 (measured: 0.8968 and 0.8865 against 0.9002 in PyTorch).
    """
    _onnxruntime()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), per_channel=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=list(op_types) if op_types else None)


def _main_metric(predictor, examples, predictions) -> tuple[str, float] | None:
    if not examples or not all(("label" in e or "tags" in e) for e in examples):
        return None
    metrics = predictor.task.score(examples, predictions, predictor.label_names, predictor.manifest.train_stats)
    key = predictor.task.default_metric
    return key, float(metrics[key])


def export_bundle(bundle: str | Path, examples: list[dict[str, Any]], *, quantize: bool = True,
                  max_abs_diff: float = 1e-4, min_agreement: float = 0.999, max_drop: float = 1.0,
                  static_int8: bool = False, openvino: bool = False,
                  calibration: list[dict[str, Any]] | None = None, calibration_source: str = "") -> dict[str, Any]:
    """Export ``bundle`` to ONNX, check parity on ``examples`` and add the variants to the bundle.

    ``static_int8`` adds ONNX Runtime static int8 (QDQ, its activation ranges calibrated on
    ``calibration``, e.g. training examples, else on ``examples``; ``calibration_source`` says which
    in the manifest), ``openvino`` the
    OpenVINO variants (fp32, bf16, int8 weights, static int8: ``tuneforge.export.calibrated``); each further variant is
    accepted when its predictions agree on at least 99% and its score drops at most ``max_drop`` points.
    Returns the ``onnx`` section written to the manifest: per variant its file, size, parity
    figures and (with labelled examples) its score and drop from PyTorch, plus the default variant.

    Example:
        >>> export_bundle("runs/sst2/bundle", read_examples("dev.tsv", ...))["default"]
        'int8'
    """
    from ..bundle import update_manifest
    from ..predictor import Predictor

    if not examples:
        raise ExportError("the parity check needs evaluation examples; none were given")
    predictor = Predictor.load(bundle, precision="fp32")  # the reference: the model as trained, in fp32
    model = exportable_model(predictor)
    root = Path(bundle)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tuneforge-onnx-") as scratch:
        raw = Path(scratch) / "raw.onnx"
        export_model(model, predictor.tokenizer, raw, task=predictor.task)
        fp32 = Path(scratch) / "model.onnx"
        optimise(raw, fp32)
        check = compare(predictor, model, OnnxModel(fp32), examples)
        log.info("onnx fp32 parity on %d examples: max |logit diff| %.2e, agreement %.4f",
                 check["examples"], check["max_abs_diff"], check["agreement"])
        if check["max_abs_diff"] > max_abs_diff or check["agreement"] < min_agreement:
            raise ExportError(
                f"ONNX export does not match the PyTorch model on {check['examples']} examples: max |logit diff| "
                f"{check['max_abs_diff']:.3g} (limit {max_abs_diff:g}), same prediction on {100 * check['agreement']:.2f}% "
                f"(limit {100 * min_agreement:.1f}%); nothing was written"
            )
        torch_score = _main_metric(predictor, examples, predictor.predict(examples))
        variants: dict[str, Any] = {"fp32": _variant("model.onnx", fp32, check, predictor, examples, torch_score)}
        files = {"model.onnx": fp32}

        def add(name: str, file: str, path: Path, runtime_model) -> None:
            """A further variant, accepted when its score drops at most max_drop points (unlabelled examples:
            when its predictions agree with PyTorch on MIN_VARIANT_AGREEMENT of them)."""
            checked = compare(predictor, model, runtime_model, examples)
            row = _variant(file, path, checked, predictor, examples, torch_score)
            drop = row.get("drop_points")
            row["accepted"] = drop <= max_drop if drop is not None else checked["agreement"] >= MIN_VARIANT_AGREEMENT
            variants[name] = row
            log.info("%s: agreement %.4f, drop %s points%s", name, checked["agreement"], drop,
                     "" if row["accepted"] else " (refused)")

        if quantize:
            int8 = Path(scratch) / "model.int8.onnx"
            quantize_int8(raw, int8, predictor.task.dynamic_quantized_ops)  # from the plain export: the optimised graph has fused ops it cannot type
            add("int8", "model.int8.onnx", int8, OnnxModel(int8))
            files["model.int8.onnx"] = int8
        if static_int8:

            qdq = Path(scratch) / "model.qdq.onnx"
            names = [i.name for i in OnnxModel(raw).session.get_inputs()]
            chosen = calibration or examples
            batches = predictor.task.calibration_inputs(predictor.tokenizer, chosen, CALIBRATION_EXAMPLES) \
                or calibration_batches(predictor.tokenizer, chosen, names, predictor.max_length)
            quantize_static_int8(raw, qdq, batches, predictor.task.quantized_ops)
            add("static_int8", "model.qdq.onnx", qdq, OnnxModel(qdq))
            variants["static_int8"]["calibrated_on"] = (
                f"{min(len(chosen), CALIBRATION_EXAMPLES)} {calibration_source or 'calibration'} examples"
                if calibration else f"the first {min(len(chosen), CALIBRATION_EXAMPLES)} evaluation examples")
            files["model.qdq.onnx"] = qdq
        for name, (form, precision) in OPENVINO_FORMS.items() if openvino else ():
            from .openvino_runtime import OpenVinoModel

            batches = None if form != "int8" else (
                predictor.task.calibration_inputs(predictor.tokenizer, calibration or examples, CALIBRATION_EXAMPLES)
                or calibration_batches(predictor.tokenizer, calibration or examples,
                                       [i.name for i in OnnxModel(raw).session.get_inputs()], predictor.max_length))
            xml = export_openvino(fp32, Path(scratch) / OPENVINO_DIR, form, batches,
                                  transformer="Conv" not in predictor.task.quantized_ops)
            add(name, xml.name, xml, OpenVinoModel(xml, precision=precision))
            variants[name].update(file=f"{OPENVINO_DIR}/{xml.name}", runtime="openvino", precision=precision)
        target = root / ONNX_DIR
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir()
        for name, path in files.items():
            shutil.copyfile(path, target / name)
        if openvino:
            shutil.rmtree(root / OPENVINO_DIR, ignore_errors=True)
            shutil.copytree(Path(scratch) / OPENVINO_DIR, root / OPENVINO_DIR)
    accepted = [name for name in ("int8", "fp32") if name in variants and variants[name].get("accepted", True)]
    # the default stays the portable ONNX Runtime choice; ``--backend auto`` measures every accepted variant
    section = {"variants": variants, "default": accepted[0], "max_drop": max_drop,
               "seconds": round(time.perf_counter() - started, 1)}
    if torch_score:
        section["torch_" + torch_score[0]] = torch_score[1]
    update_manifest(root, onnx=section)
    from .backend_choice import forget_choice

    forget_choice(root)  # measured against the old variants
    return section


def _variant(name, path: Path, check, predictor, examples, torch_score) -> dict[str, Any]:
    row = {"file": f"{ONNX_DIR}/{name}", "mb": round(path.stat().st_size / 2**20, 2),
           "max_abs_diff": check["max_abs_diff"], "agreement": check["agreement"], "examples": check["examples"]}
    score = _main_metric(predictor, examples, check["predictions"])
    if score and torch_score:
        row[score[0]] = score[1]
        row["drop_points"] = round(100 * (torch_score[1] - score[1]), 3)
    return row
