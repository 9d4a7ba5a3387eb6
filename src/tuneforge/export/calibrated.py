"""Calibrated export variants beside the plain and dynamically quantized ONNX files.

- ONNX Runtime static int8 (QDQ): weights int8 per channel, activations uint8 with ranges calibrated
  on a sample of the evaluation data (MatMul/Gemm only; the rest stays fp32).
- OpenVINO: the fp32 graph converted from the ONNX export, and its int8 weight-compressed form (NNCF).

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


def export_openvino(source: Path, folder: Path, int8: bool) -> Path:
    """Convert the ONNX model at ``source`` to OpenVINO IR in ``folder`` (``model.xml`` + ``.bin``), or with
    ``int8`` its int8 weight-compressed form (``model.int8.xml``); returns the ``.xml`` path."""
    ov = _openvino()
    model = ov.convert_model(str(source))
    name = "model.xml"
    if int8:
        try:
            import nncf
        except ImportError:
            raise ExportError("OpenVINO int8 needs nncf: pip install 'tuneforge[openvino]'") from None
        model = nncf.compress_weights(model)  # int8 asymmetric weights, per output channel
        name = "model.int8.xml"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    ov.save_model(model, str(target), compress_to_fp16=False)
    return target
