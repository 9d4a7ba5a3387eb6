"""Extractive question answering head: one linear layer gives each token a start and an end logit.

Its output is one ``logits`` tensor of shape ``(batch, tokens, 2)`` (start, end) rather than
transformers' two, so training, batched inference, ONNX export and the parity gate treat it as any
token-level model; ``labels`` are ``(batch, 2)`` token positions of the answer ([CLS] = 0 for none).

Example:
    >>> model = SpanExtractor.from_backbone("path/to/encoder")
    >>> model(**tokenizer(["Who?"], ["Ann did."], return_tensors="pt")).logits.shape
    torch.Size([1, 7, 2])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .encoder_head import EncoderWithHead, load_encoder

ARCHITECTURE = "SpanExtractorForQuestionAnswering"


class SpanExtractor(EncoderWithHead):
    """Encoder + ``qa_outputs`` (hidden -> start, end)."""

    architecture = ARCHITECTURE

    def __init__(self, encoder) -> None:
        super().__init__(encoder)
        self.qa_outputs = torch.nn.Linear(encoder.config.hidden_size, 2)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        """Start and end logits per token (padding masked to a large negative); with ``labels`` the mean of
        the start and end cross-entropies."""
        from transformers.modeling_outputs import TokenClassifierOutput

        logits = self.qa_outputs(self.encode(input_ids, attention_mask, token_type_ids))
        if attention_mask is not None:
            logits = logits.masked_fill(attention_mask.unsqueeze(-1) == 0, -1e4)
        loss = None
        if labels is not None:
            loss = (torch.nn.functional.cross_entropy(logits[..., 0], labels[:, 0])
                    + torch.nn.functional.cross_entropy(logits[..., 1], labels[:, 1])) / 2
        return TokenClassifierOutput(loss=loss, logits=logits)

    def head_config(self) -> dict[str, Any]:
        """Nothing beyond the architecture."""
        return {}

    @classmethod
    def from_head_config(cls, encoder, config: dict[str, Any]) -> "SpanExtractor":
        """A span extractor on ``encoder``."""
        return cls(encoder)

    @classmethod
    def from_backbone(cls, folder: str | Path) -> "SpanExtractor":
        """The pretrained encoder of ``folder`` with a fresh start/end layer."""
        return cls(load_encoder(folder))
