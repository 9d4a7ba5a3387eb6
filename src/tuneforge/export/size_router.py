"""Two runtimes of one bundle, each answering the batch sizes it is fastest at.

The fastest way to run a model differs by batch size and CPU: on an AMX Xeon an int8 ONNX model answered
one text fastest (1.9 ms), OpenVINO computing in bf16 batches of 32 (40 ms, against 71 ms for the int8
model). ``--backend auto``
(``tuneforge.export.backend_choice``) measures both sizes; where two runtimes win, the predictor holds
both behind a ``SizeRouter``.
"""

from __future__ import annotations

from torch import nn


class SizeRouter(nn.Module):
    """Batches of at most ``small_rows`` inputs go to ``small``, larger ones to ``large``; both are called
    like a transformers model (keyword tensors in, an output with ``logits`` out).

    Example:
        >>> router = SizeRouter(onnx_int8_model, torch_bf16_model, small_rows=8)
        >>> router(**tokenizer(["one text"], return_tensors="pt")).logits  # from onnx_int8_model
    """

    def __init__(self, small, large, small_rows: int) -> None:
        super().__init__()
        self.small, self.large, self.small_rows = small, large, small_rows
        self.config = getattr(large, "config", None)

    def forward(self, **batch):
        """The output of the runtime chosen by the batch's number of rows."""
        rows = next(iter(batch.values())).shape[0]
        return (self.small if rows <= self.small_rows else self.large)(**batch)
