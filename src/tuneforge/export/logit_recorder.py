"""A model wrapper that keeps the logits of every batch it runs (for parity checks between runtimes)."""

from __future__ import annotations

import numpy as np
from torch import nn


class LogitRecorder(nn.Module):
    """Pass batches through ``model`` and keep each batch's logits (fp32) and attention mask."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model
        self.batches: list[tuple[np.ndarray, np.ndarray]] = []

    def forward(self, **batch):
        """The wrapped model's output; its logits and the batch's attention mask are kept."""
        out = self.model(**batch)
        self.batches.append((out.logits.detach().float().cpu().numpy(), batch["attention_mask"].cpu().numpy()))
        return out
