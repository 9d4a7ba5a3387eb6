"""A sentence-embedding classifier: encoder -> mean pooling -> unit length -> linear head.

This is the shape of a sentence-transformers model (all-MiniLM-L6-v2 is trained for exactly this
pooling) with a classification head on top. Zero-shot fills the head with label-description
embeddings; contrastive few-shot fine-tunes the encoder and fits the head with logistic regression.

Saved as a normal ``save_pretrained`` encoder folder plus ``embedding_head.safetensors``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

HEAD_FILE = "embedding_head.safetensors"


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average token vectors over real (unpadded) positions: (batch, seq, width) -> (batch, width)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (batch, seq, 1)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


class EmbeddingClassifier(nn.Module):
    """Logits = head(normalize(mean_pool(encoder(text)))).

    Example:
        >>> model = EmbeddingClassifier(AutoModel.from_pretrained(path), num_labels=2)
        >>> model(**tokenizer(["good film"], return_tensors="pt")).logits.shape
        torch.Size([1, 2])
    """

    def __init__(self, encoder, num_labels: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.config = encoder.config
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def embed(self, input_ids, attention_mask, token_type_ids=None) -> torch.Tensor:
        """Unit-length sentence embeddings, (batch, width)."""
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask, **kwargs).last_hidden_state
        return nn.functional.normalize(mean_pool(hidden, attention_mask), dim=-1)

    def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None):
        """Class logits (and cross-entropy loss when ``labels`` are given)."""
        from transformers.modeling_outputs import SequenceClassifierOutput

        logits = self.head(self.embed(input_ids, attention_mask, token_type_ids))  # (batch, labels)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def set_head(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Replace the head's parameters, (labels, width) and (labels,)."""
        with torch.no_grad():
            self.head.weight.copy_(weight)
            self.head.bias.copy_(bias)

    def save_pretrained(self, path: str | Path, **kwargs) -> None:
        """Encoder as ``save_pretrained`` (safetensors) plus the head in ``embedding_head.safetensors``."""
        from safetensors.torch import save_file

        path = Path(path)
        self.encoder.save_pretrained(path, **kwargs)
        save_file({"weight": self.head.weight.detach().contiguous(), "bias": self.head.bias.detach().contiguous()},
                  str(path / HEAD_FILE))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "EmbeddingClassifier":
        """Reload what ``save_pretrained`` wrote (safetensors only)."""
        from safetensors.torch import load_file

        from ..model_files import load_model

        head = load_file(str(Path(path) / HEAD_FILE))
        model = cls(load_model("AutoModel", path), num_labels=head["weight"].shape[0])
        model.set_head(head["weight"], head["bias"])
        return model.eval()

    @classmethod
    def from_backbone(cls, model_path: str, num_labels: int) -> "EmbeddingClassifier":
        """A fresh classifier on a backbone folder (head initialised to zero: uniform scores)."""
        from ..model_files import load_model

        model = cls(load_model("AutoModel", model_path), num_labels)
        model.set_head(torch.zeros_like(model.head.weight), torch.zeros_like(model.head.bias))
        return model


class _EmbeddingsAsLogits(nn.Module):
    """Expose ``embed`` as ``.logits`` so the shared batched inference can run it."""

    def __init__(self, model: EmbeddingClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, **batch):
        from transformers.modeling_outputs import SequenceClassifierOutput

        return SequenceClassifierOutput(logits=self.model.embed(**batch))


def encode_texts(model: EmbeddingClassifier, tokenizer, texts: list[str], max_length: int,
                 batch_size: int = 64) -> torch.Tensor:
    """Unit-length embeddings of ``texts`` in input order, (n, width)."""
    import numpy as np
    from transformers import DataCollatorWithPadding

    from ..tasks.base import batched_logits

    encoded = tokenizer(texts, truncation=True, max_length=max_length)
    features = [dict(zip(encoded.keys(), values)) for values in zip(*encoded.values())]
    rows = batched_logits(_EmbeddingsAsLogits(model), features, DataCollatorWithPadding(tokenizer), batch_size)
    return torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, model.config.hidden_size)
