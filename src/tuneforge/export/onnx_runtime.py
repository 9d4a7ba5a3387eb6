"""Run an exported ONNX model with ONNX Runtime, looking like a transformers model to the task code.

The runtime side of ONNX, apart from the exporter: loading a bundle for prediction needs this module
only, never the export code (which itself loads bundles).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import TuneForgeError


class ExportError(TuneForgeError):
    """An export failed, its output does not match the model it came from, or ONNX Runtime is missing."""


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ExportError("ONNX export needs onnx and onnxruntime: pip install 'tuneforge[onnx]'") from None
    return onnxruntime


class OnnxModel(nn.Module):
    """An ONNX Runtime session that looks like a transformers model to the task code (``.logits``).

    Example:
        >>> model = OnnxModel("bundle/onnx/model.onnx")
        >>> model(**tokenizer(["a fun film"], return_tensors="pt")).logits.shape
        torch.Size([1, 2])
    """

    def __init__(self, path: str | Path, threads: int | None = None, spinning: bool = True) -> None:
        super().__init__()
        ort = _onnxruntime()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        if not spinning:  # idle worker threads sleep instead of spinning: a server's HTTP side keeps its CPU
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = str(path)
        self.session = ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.input_types = {i.name: np.float32 if "float" in i.type else np.int64 for i in self.session.get_inputs()}

    def forward(self, **batch):
        from transformers.modeling_outputs import SequenceClassifierOutput

        feed = {name: batch[name].cpu().numpy().astype(self.input_types[name]) for name in self.input_names}
        (logits,) = self.session.run(["logits"], feed)
        return SequenceClassifierOutput(logits=torch.from_numpy(logits))
