"""Run an OpenVINO IR model (exported by ``tuneforge export``) looking like a transformers model."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .onnx_runtime import ExportError

log = logging.getLogger("tuneforge")


def _openvino():
    try:
        import openvino
    except ImportError:
        raise ExportError("OpenVINO variants need openvino and nncf: pip install 'tuneforge[openvino]'") from None
    return openvino


class OpenVinoModel(nn.Module):
    """An OpenVINO compiled model on the CPU that the task code can call like a transformers model.

    It computes in ``precision`` (``INFERENCE_PRECISION_HINT``; default f32: OpenVINO would otherwise
    pick bf16 by itself on a CPU that has it, outside TuneForge's parity gate; the ``openvino_bf16``
    variant asks for bf16 and goes through the gate like every variant).

    Example:
        >>> model = OpenVinoModel("bundle/openvino/model.xml")
        >>> model(**tokenizer(["a fun film"], return_tensors="pt")).logits.shape
        torch.Size([1, 2])
    """

    def __init__(self, path: str | Path, threads: int | None = None, precision: str = "f32") -> None:
        super().__init__()
        ov = _openvino()
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": precision}
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        self.path = str(path)
        try:
            self.compiled = ov.Core().compile_model(self.path, "CPU", config)
        except RuntimeError as exc:  # a precision this CPU cannot compute in: f32, and say so
            if precision == "f32":
                raise
            log.warning("OpenVINO cannot compute %s in %s on this CPU (%s): f32 instead", self.path, precision,
                        str(exc).splitlines()[0][:200])
            self.compiled = ov.Core().compile_model(self.path, "CPU", {**config, "INFERENCE_PRECISION_HINT": "f32"})
        self.input_names = [port.get_any_name() for port in self.compiled.inputs]

    def forward(self, **batch):
        """Logits for a batch of token ids (``input_ids``, ``attention_mask``, ``token_type_ids``)."""
        from transformers.modeling_outputs import SequenceClassifierOutput

        feed = {name: batch[name].cpu().numpy().astype(np.int64) for name in self.input_names}
        result = self.compiled.create_infer_request().infer(feed)  # one request per call: thread-safe
        logits = np.asarray(result[self.compiled.output(0)])
        return SequenceClassifierOutput(logits=torch.from_numpy(logits.copy()))
