"""Zero-shot classification with an NLI cross-encoder (Yin et al. 2019), as the user supplies one.

Each text is paired with one hypothesis per label (``"This example is {description}."``); the
label's logit is the NLI model's entailment logit for that pair, and a softmax over labels
gives the scores. The classifier takes the text's own token ids (single-text encoding, padded)
and appends each hypothesis inside ``forward``, so batching, prediction and bundles work as for
any classifier. Saved as the NLI model's ``save_pretrained`` folder plus ``nli_zero_shot.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

SPEC_FILE = "nli_zero_shot.json"


def entailment_index(config) -> int:
    """Index of the entailment class in an NLI model's labels."""
    for index, name in (config.id2label or {}).items():
        if str(name).lower().startswith("entail"):
            return int(index)
    raise ValueError(f"the NLI model's labels {list((config.id2label or {}).values())} have no 'entailment'")


def hypothesis_suffixes(tokenizer, hypotheses: list[str]) -> list[dict[str, list[int]]]:
    """What the tokenizer appends to a single text to make it a (text, hypothesis) pair, per hypothesis.

    Learnt from the tokenizer itself: ``tok("x", h)`` minus the common prefix with ``tok("x")``
    (BERT: ``h [SEP]``; RoBERTa: ``</s> h </s>``), with its token type ids when the model uses them.
    """
    single = tokenizer("x")["input_ids"]
    out = []
    for hypothesis in hypotheses:
        pair = tokenizer("x", hypothesis)
        ids = pair["input_ids"]
        start = next((i for i, (a, b) in enumerate(zip(single, ids)) if a != b), min(len(single), len(ids)))
        start = min(start, len(single))
        types = pair.get("token_type_ids")
        out.append({"ids": ids[start:], "types": types[start:] if types is not None else []})
    return out


class NLIZeroShotClassifier(nn.Module):
    """Logits = entailment logit of (text, hypothesis of label) for every label.

    Example:
        >>> model = NLIZeroShotClassifier(nli, spec)
        >>> model(**tokenizer(["a fun film"], return_tensors="pt")).logits.shape
        torch.Size([1, 2])
    """


    def __init__(self, nli, spec: dict[str, Any]) -> None:
        super().__init__()
        self.nli = nli
        self.config = nli.config
        self.spec = spec

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
        """(batch, labels) entailment logits; cross-entropy loss when ``labels`` are given."""
        from transformers.modeling_outputs import SequenceClassifierOutput

        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        suffixes = self.spec["suffixes"]
        limit = getattr(self.config, "max_position_embeddings", 512)
        rows, types = [], []
        for ids, mask in zip(input_ids.tolist(), attention_mask.tolist()):
            text = [t for t, m in zip(ids, mask) if m]
            for suffix in suffixes:
                room = limit - len(suffix["ids"])
                head = text if len(text) <= room else text[: room - 1] + text[-1:]  # keep the closing token
                rows.append(head + suffix["ids"])
                types.append([0] * len(head) + (suffix["types"] or [0] * len(suffix["ids"])))
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.spec["pad_id"], dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        type_ids = torch.zeros(len(rows), width, dtype=torch.long)
        for i, (row, row_types) in enumerate(zip(rows, types)):
            ids[i, : len(row)], mask[i, : len(row)] = torch.tensor(row), 1
            type_ids[i, : len(row)] = torch.tensor(row_types)
        inputs = {"input_ids": ids, "attention_mask": mask}
        if self.spec["uses_token_types"]:
            inputs["token_type_ids"] = type_ids
        device = next(self.nli.parameters()).device
        out = self.nli(**{k: v.to(device) for k, v in inputs.items()}).logits  # (batch * labels, nli classes)
        logits = out[:, self.spec["entailment"]].view(len(input_ids), len(suffixes))
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def save_pretrained(self, path: str | Path, **kwargs) -> None:
        """The NLI model as ``save_pretrained`` (safetensors) plus ``nli_zero_shot.json``."""
        self.nli.save_pretrained(path, **kwargs)
        (Path(path) / SPEC_FILE).write_text(json.dumps(self.spec), encoding="utf-8")

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "NLIZeroShotClassifier":
        """Reload what ``save_pretrained`` wrote (safetensors only)."""
        from ..model_files import load_model

        spec = json.loads((Path(path) / SPEC_FILE).read_text(encoding="utf-8"))
        return cls(load_model("AutoModelForSequenceClassification", path), spec).eval()

    @classmethod
    def from_nli_model(cls, model_path: str, tokenizer, hypotheses: list[str]) -> "NLIZeroShotClassifier":
        """Wrap an NLI cross-encoder folder for the given hypotheses (one per label)."""
        from ..model_files import load_model

        nli = load_model("AutoModelForSequenceClassification", model_path)
        spec = {"hypotheses": hypotheses, "suffixes": hypothesis_suffixes(tokenizer, hypotheses),
                "entailment": entailment_index(nli.config), "pad_id": tokenizer.pad_token_id or 0,
                "uses_token_types": "token_type_ids" in tokenizer.model_input_names}
        return cls(nli, spec).eval()
