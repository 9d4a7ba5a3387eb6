"""The "entity start" relation classifier of Baldini Soares et al. (2019): a transformers encoder reads
a sentence with entity markers (``<e1>``, ``</e1>``, ``<e2>``, ``</e2>``, added to the tokenizer), and
a linear layer classifies the concatenated hidden states of the two start markers.

The marker embeddings are new rows of the encoder's embedding matrix, set deterministically to the
mean of the embeddings of the pieces the original tokenizer splits each marker into (``<e1>`` ->
``<``, ``e``, ``##1``, ``>``), so a model rebuilt from the same backbone starts from the same values
and the two entities are told apart from the first step; training updates them with the rest.

Example:
    >>> model = EntityStartClassifier.from_backbone("path/to/encoder", tokenizer, ["Other", "Cause-Effect(e1,e2)"])
    >>> model(**tokenizer(["The <e1>rain</e1> caused <e2>floods</e2>."], return_tensors="pt")).logits.shape
    torch.Size([1, 2])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .encoder_head import EncoderWithHead, load_encoder

MARKERS = ("<e1>", "</e1>", "<e2>", "</e2>")
ARCHITECTURE = "EntityStartForRelationClassification"


def add_markers(tokenizer) -> None:
    """Add the four entity markers to ``tokenizer`` as special tokens (never split, never lower-cased)."""
    missing = [m for m in MARKERS if m not in tokenizer.get_vocab()]
    if missing:
        tokenizer.add_tokens(missing, special_tokens=True)


class EntityStartClassifier(EncoderWithHead):
    """Encoder + classifier over ``[h(<e1>); h(<e2>)]``; takes the tokenizer's inputs and optional
    ``labels``, returns transformers' ``SequenceClassifierOutput`` (``loss``, ``logits``)."""

    architecture = ARCHITECTURE

    def __init__(self, encoder, id2label: dict[int, str], start_ids: tuple[int, int], dropout: float = 0.1) -> None:
        super().__init__(encoder)
        self.id2label = dict(id2label)
        self.num_labels = len(self.id2label)
        self.start_ids = tuple(int(i) for i in start_ids)
        self.dropout = torch.nn.Dropout(dropout)
        self.classifier = torch.nn.Linear(2 * encoder.config.hidden_size, self.num_labels)

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        """Logits from the two start markers (the first of each); the cross-entropy loss with ``labels``."""
        from transformers.modeling_outputs import SequenceClassifierOutput

        hidden = self.encode(input_ids, attention_mask, token_type_ids)
        rows = torch.arange(input_ids.shape[0], device=input_ids.device)
        first = [(input_ids == marker).int().argmax(dim=1) for marker in self.start_ids]  # 0 ([CLS]) if cut off
        features = torch.cat([hidden[rows, position] for position in first], dim=-1)
        logits = self.classifier(self.dropout(features))
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def head_config(self) -> dict[str, Any]:
        """Labels and the ids of the two start markers."""
        return {"id2label": {str(i): n for i, n in self.id2label.items()},
                "label2id": {n: i for i, n in self.id2label.items()}, "entity_start_ids": list(self.start_ids)}

    @classmethod
    def from_head_config(cls, encoder, config: dict[str, Any]) -> "EntityStartClassifier":
        """The classifier ``head_config`` described."""
        return cls(encoder, {int(k): str(v) for k, v in config["id2label"].items()},
                   tuple(int(i) for i in config["entity_start_ids"]))

    @classmethod
    def from_backbone(cls, folder: str | Path, tokenizer, label_names: list[str]) -> "EntityStartClassifier":
        """The pretrained encoder of ``folder`` with the markers of ``tokenizer`` (``add_markers``) added to
        its embeddings, and a fresh classifier for ``label_names``."""
        from ..model_files import load_tokenizer

        encoder = load_encoder(folder)
        embeddings = encoder.get_input_embeddings().weight
        known = embeddings.shape[0]
        plain = load_tokenizer(folder)  # the backbone's own tokenizer: how it splits a marker's characters
        if len(tokenizer) > known:
            encoder.resize_token_embeddings(len(tokenizer), mean_resizing=False)
            embeddings = encoder.get_input_embeddings().weight
            with torch.no_grad():
                for marker in MARKERS:
                    index = tokenizer.convert_tokens_to_ids(marker)
                    if index >= known:
                        pieces = [i for i in plain(marker, add_special_tokens=False)["input_ids"] if i < known]
                        embeddings[index] = embeddings[pieces].mean(0) if pieces else embeddings[:known].mean(0)
        starts = tuple(tokenizer.convert_tokens_to_ids(m) for m in MARKERS[::2])
        return cls(encoder, dict(enumerate(label_names)), starts)
