"""In-context few-shot classification with a causal (decoder) language model; nothing trains.

The prompt is k demonstrations written with a template (``"Review: {text}\\nSentiment: {label}"``),
then the query written the same way up to ``{label}``. A label's score is the model's
log-likelihood of that label's verbalizer word after the prompt (summed over the word's tokens).

Contextual calibration (Zhao et al. 2021): the same prompt with content-free queries ("N/A",
"", "[MASK]") shows the model's bias towards some labels; the mean of their label
probabilities, ``p_cf``, is divided out: calibrated logits are ``log p(label) - log p_cf(label)``.

The classifier takes the query's own token ids (as a classification tokenizer call gives them,
padded) and builds the full prompt inside ``forward``, so batching, prediction and bundles work
as for every other classifier. Saved as the causal LM's ``save_pretrained`` folder plus
``in_context.json`` (prompt token ids, label words, calibration).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

SPEC_FILE = "in_context.json"
CONTENT_FREE = ["N/A", "", "[MASK]"]


def build_spec(tokenizer, template: str, separator: str, demonstrations: list[tuple[str, str]],
               words: dict[str, str], label_names: list[str]) -> dict[str, Any]:
    """Token ids of the context (demonstrations + the query's lead-in), of the text between the
    query and its label, and of each label word.

    Example:
        >>> spec = build_spec(tok, "Review: {text}\\nSentiment: {label}", "\\n\\n", [("fun", "positive")],
        ...                   {"negative": "bad", "positive": "good"}, ["negative", "positive"])
        >>> tok.decode(spec["context_ids"])
        'Review: fun\\nSentiment: good\\n\\nReview:'
    """
    head, rest = template.split("{text}")
    between, tail = rest.split("{label}")
    space = " " if between.endswith(" ") else ""
    between = between[: len(between) - len(space)]
    shots = "".join(template.format(text=text, label=words[label]) + separator for text, label in demonstrations)
    encode = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"] if s else []
    label_ids = [encode(space + words[name]) for name in label_names]
    bos = [tokenizer.bos_token_id] if getattr(tokenizer, "add_bos_token", False) and tokenizer.bos_token_id is not None else []
    return {
        "context_ids": bos + encode(shots + head.rstrip(" ")),
        "query_space": head.endswith(" "),
        "between_ids": encode(between),
        "label_ids": label_ids,
        "special_ids": sorted(set(tokenizer.all_special_ids)),
        "label_names": label_names,
        "log_prior": [0.0] * len(label_names),
    }


class InContextClassifier(nn.Module):
    """Logits = log-likelihood of each label word after the in-context prompt, minus the calibration prior.

    Example:
        >>> model = InContextClassifier(AutoModelForCausalLM.from_pretrained(path), spec, tokenizer)
        >>> model(**tokenizer(["a fun film"], return_tensors="pt")).logits.shape
        torch.Size([1, 2])
    """


    def __init__(self, lm, spec: dict[str, Any], tokenizer) -> None:
        super().__init__()
        self.lm = lm
        self.tokenizer = tokenizer
        self.config = lm.config
        self.spec = spec
        self.register_buffer("log_prior", torch.tensor(spec["log_prior"], dtype=torch.float32), persistent=False)

    def _prompts(self, input_ids, attention_mask) -> list[list[int]]:
        """One prompt (without label) per row: context + query tokens + the text before the label."""
        special = set(self.spec["special_ids"])
        texts = [self.tokenizer.decode([t for t, m in zip(ids, mask) if m and t not in special])
                 for ids, mask in zip(input_ids.tolist(), attention_mask.tolist())]
        return self._prompts_for(texts)

    def _prompts_for(self, texts: list[str]) -> list[list[int]]:
        # Re-encoded after the template's lead-in (with its space), as in the demonstrations.
        lead = " " if self.spec["query_space"] else ""
        return [self.spec["context_ids"] + self.tokenizer(lead + text, add_special_tokens=False)["input_ids"]
                + self.spec["between_ids"] for text in texts]

    def label_log_likelihoods(self, prompts: list[list[int]]) -> torch.Tensor:
        """(rows, labels) summed log-probabilities of each label's tokens after each prompt.

        Sequences are left-padded so that every label word ends at the last position and only the
        last few positions need vocabulary logits (``logits_to_keep``).
        """
        label_ids = self.spec["label_ids"]
        limit = getattr(self.config, "n_positions", None) or getattr(self.config, "max_position_embeddings", 1024)
        sequences, lengths = [], []
        for prompt in prompts:
            for word in label_ids:
                cut = prompt[-(limit - len(word)):]  # overly long prompts lose their oldest demonstrations first
                sequences.append(cut + word)
                lengths.append(len(word))
        context = self.spec["context_ids"]
        shared = len(context) > 1 and all(seq[: len(context)] == context for seq in sequences)
        start = len(context) if shared else 0  # the demonstrations run once, then every row reuses their cache
        width = max(len(s) for s in sequences) - start
        ids = torch.zeros(len(sequences), width, dtype=torch.long)
        mask = torch.zeros(len(sequences), width, dtype=torch.long)
        for i, seq in enumerate(sequences):
            ids[i, width - len(seq) + start:] = torch.tensor(seq[start:])
            mask[i, width - len(seq) + start:] = 1
        keep = max(lengths) + 1
        device = next(self.lm.parameters()).device
        if shared:
            full = torch.cat([torch.ones(len(sequences), start, dtype=torch.long), mask], dim=1)
            positions = (full.cumsum(-1) - 1).clamp(min=0)[:, start:]
            out = self.lm(input_ids=ids.to(device), attention_mask=full.to(device), position_ids=positions.to(device),
                          past_key_values=self._context_cache(len(sequences), device), use_cache=True,
                          logits_to_keep=keep)
        else:
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            out = self.lm(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=positions.to(device),
                          logits_to_keep=keep)
        logits = out.logits[:, -keep:].float()  # (n, keep, vocab)
        log_probs = torch.log_softmax(logits, dim=-1)
        scores = torch.zeros(len(sequences))
        for i, n in enumerate(lengths):
            # the last n tokens are the word; each is predicted by the logits one position earlier
            targets = ids[i, width - n:].to(device)
            scores[i] = log_probs[i, keep - n - 1 : keep - 1].gather(-1, targets[:, None]).sum()
        return scores.view(len(prompts), len(label_ids))

    def _context_cache(self, rows: int, device):
        """The key/value cache of the demonstrations (computed once per precision), copied for ``rows`` rows."""
        import copy

        key = torch.is_autocast_enabled("cpu")  # a cache made in fp32 is not reused under bf16 autocast, or back
        cached = getattr(self, "_cached_context", {}).get(key)
        if cached is None:
            ids = torch.tensor([self.spec["context_ids"]], device=device)
            cached = self.lm(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True).past_key_values
            self._cached_context = {**getattr(self, "_cached_context", {}), key: cached}
        cache = copy.deepcopy(cached)
        cache.batch_repeat_interleave(rows)
        return cache

    def forward(self, input_ids, attention_mask=None, labels=None, **kwargs):
        """Calibrated label logits (batch, labels); cross-entropy loss when ``labels`` are given."""
        from transformers.modeling_outputs import SequenceClassifierOutput

        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        raw = torch.log_softmax(self.label_log_likelihoods(self._prompts(input_ids, attention_mask)), dim=-1)
        logits = (raw - self.log_prior).to(input_ids.device)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    @torch.no_grad()
    def calibrate(self, content_free: list[str]) -> list[float]:
        """Set the prior to the mean label probabilities of content-free queries; return it."""
        self.log_prior.zero_()
        probs = torch.softmax(self.label_log_likelihoods(self._prompts_for(content_free)), dim=-1).mean(dim=0)
        self.log_prior.copy_(torch.log(probs))
        self.spec["log_prior"] = self.log_prior.tolist()
        return probs.tolist()

    def save_pretrained(self, path: str | Path, **kwargs) -> None:
        """The causal LM as ``save_pretrained`` (safetensors) plus ``in_context.json``."""
        self.lm.save_pretrained(path, **kwargs)
        (Path(path) / SPEC_FILE).write_text(json.dumps(self.spec), encoding="utf-8")

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "InContextClassifier":
        """Reload what ``save_pretrained`` wrote (safetensors only)."""
        from ..model_files import load_model, load_tokenizer

        spec = json.loads((Path(path) / SPEC_FILE).read_text(encoding="utf-8"))
        lm = load_model("AutoModelForCausalLM", path)
        return cls(lm, spec, load_tokenizer(path)).eval()
