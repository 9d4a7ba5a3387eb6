"""Calibrated export variants beside the plain and dynamically quantized ONNX files.

- ONNX Runtime static int8 (QDQ): weights int8 per channel, activations uint8 with ranges calibrated
  on a sample of the evaluation data (MatMul/Gemm only; the rest stays fp32).
- OpenVINO: the fp32 graph converted from the ONNX export (computed in fp32, or in bf16 where the CPU has
  it), its int8 weight-compressed form and its int8 post-training quantized form (NNCF, calibrated).

Each variant is checked by ``export_bundle`` exactly like the others (agreement with PyTorch and the
accuracy drop on the evaluation data).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .onnx_runtime import ExportError, _onnxruntime
from .openvino_runtime import _openvino

CALIBRATION_EXAMPLES = 128
CALIBRATION_BATCH = 8


def calibration_batches(tokenizer, examples: list[dict[str, Any]], names: list[str], max_length: int,
                        limit: int = CALIBRATION_EXAMPLES) -> list[dict[str, np.ndarray]]:
    """Tokenized batches (numpy int64, padded per batch) of the first ``limit`` examples' texts."""
    texts = [e["text"] for e in examples[:limit] if "text" in e]
    pairs = [e.get("text_pair") for e in examples[:limit] if "text" in e]
    batches = []
    for start in range(0, len(texts), CALIBRATION_BATCH):
        chunk = texts[start:start + CALIBRATION_BATCH]
        second = pairs[start:start + CALIBRATION_BATCH]
        encoded = tokenizer(chunk, second if any(second) else None, padding=True, truncation=True,
                            max_length=max_length, return_tensors="np")
        batches.append({n: encoded[n].astype(np.int64) for n in names})
    if not batches:
        raise ExportError("static int8 needs texts to calibrate on; the evaluation examples have none")
    return batches


def quantize_static_int8(source: Path, target: Path, batches: list[dict[str, np.ndarray]],
                         op_types: tuple[str, ...] = ("MatMul", "Gemm")) -> None:
    """ONNX Runtime static quantization (QDQ format) of ``source``'s ``op_types`` nodes (MatMul/Gemm for
    transformers, Conv too for CNNs), calibrated on ``batches`` (MinMax ranges), written to ``target``."""
    _onnxruntime()
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.left = iter(batches)

        def get_next(self):
            return next(self.left, None)

    quantize_static(str(source), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    op_types_to_quantize=list(op_types))


OPENVINO_FORMS = {  # variant name -> (what is done to the converted graph, the precision it computes in)
    "openvino": ("fp32", "f32"),
    "openvino_bf16": ("fp32", "bf16"),  # the same IR, computed in bf16 (AMX/AVX512-BF16; elsewhere fp32)
    "openvino_int8": ("int8_weights", "f32"),
    "openvino_static_int8": ("int8", "f32"),  # weights and activations int8 (VNNI/AMX-INT8 kernels)
}


def export_openvino(source: Path, folder: Path, form: str = "fp32",
                    batches: list[dict[str, np.ndarray]] | None = None, transformer: bool = True) -> Path:
    """Convert the ONNX model at ``source`` to OpenVINO IR in ``folder``; returns the ``.xml`` path.

    ``form``: ``fp32`` (``model.xml``), ``int8_weights`` (NNCF weight compression: int8 weights per
    output channel, ``model.int8.xml``) or ``int8`` (NNCF post-training quantization of weights and
    activations, calibrated on ``batches``, ``model.qint8.xml``; ``transformer``: NNCF's transformer
    scheme, which keeps softmax and norms in float). An existing ``model.xml`` is reused."""
    ov = _openvino()
    name = {"fp32": "model.xml", "int8_weights": "model.int8.xml", "int8": "model.qint8.xml"}[form]
    target = folder / name
    if target.is_file():
        return target
    model = ov.convert_model(str(source))
    if form != "fp32":
        try:
            import nncf
        except ImportError:
            raise ExportError("OpenVINO int8 needs nncf: pip install 'tuneforge[openvino]'") from None
        if form == "int8_weights":
            model = nncf.compress_weights(model)  # int8 asymmetric weights, per output channel
        else:
            if not batches:
                raise ExportError("OpenVINO static int8 needs examples to calibrate on")
            model = nncf.quantize(model, nncf.Dataset(batches), subset_size=len(batches),
                                  model_type=nncf.ModelType.TRANSFORMER if transformer else None)
    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(target), compress_to_fp16=False)
    return target
