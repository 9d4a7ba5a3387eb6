"""Static batching for the server: several prompts decoded together, one token per step for every row.

The prompts are left-padded into one batch and prefilled once; then each step runs the model on one
new token per row with the KV cache, and each row picks its token with its own settings (greedy or
sampled, its own temperature, top-p, top-k, repetition penalty, seed), stops on its own (EOS, a stop
string, its ``max_new_tokens``, or its client going away) and streams its text as it grows. The batch
ends when every row has. Greedy rows give the same tokens as ``model.generate`` (positions are
counted from the attention mask the same way).
"""

from __future__ import annotations

import inspect

from dataclasses import dataclass, field
from typing import Callable

import torch

from .decoding import DecodingOptions, cut_at_stop


@dataclass
class Row:
    """One request in a batch: its prompt ids and settings, and where its text goes."""

    prompt: list[int]
    options: DecodingOptions
    emit: Callable[[str], None] = lambda piece: None  # new text, as it is generated
    cancelled: Callable[[], bool] = lambda: False  # the client went away: stop this row
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    finish_reason: str | None = None
    generator: torch.Generator | None = None


def _pick(logits: torch.Tensor, row: Row) -> int:
    """The next token of one row from its logits (vocab,)."""
    options = row.options
    scores = logits.float()
    if options.repetition_penalty != 1.0:
        seen = torch.tensor(sorted(set(row.prompt) | set(row.tokens)), dtype=torch.long)
        picked = scores[seen]
        scores[seen] = torch.where(picked < 0, picked * options.repetition_penalty, picked / options.repetition_penalty)
    if not options.do_sample:
        return int(scores.argmax())
    scores = scores / options.temperature
    if options.top_k:
        kth = torch.topk(scores, min(options.top_k, scores.numel())).values[-1]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if options.top_p < 1.0:
        ordered, index = torch.sort(scores, descending=True)
        cumulative = torch.softmax(ordered, dim=-1).cumsum(-1)
        drop = cumulative - torch.softmax(ordered, dim=-1) > options.top_p  # keep the smallest set reaching top_p
        scores[index[drop]] = float("-inf")
    return int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=row.generator))


def _advance(tokenizer, row: Row, token: int) -> None:
    """Add ``token`` to ``row``: emit the new text, and finish the row on EOS, a stop string or its length."""
    if token == tokenizer.eos_token_id:
        row.tokens.append(token)
        row.finish_reason = "stop"
        return
    row.tokens.append(token)
    text = tokenizer.decode([t for t in row.tokens if t != tokenizer.eos_token_id], skip_special_tokens=True)
    text, stopped = cut_at_stop(text, row.options.stop)
    if stopped:
        row.finish_reason = "stop"
    if not text.endswith("\ufffd") or stopped:  # a character still being assembled from byte tokens
        if len(text) > len(row.text):
            row.emit(text[len(row.text):])
        row.text = text
    if not stopped and len(row.tokens) >= row.options.max_new_tokens:
        row.finish_reason = "length"


def _forward_of(model):
    """The forward of the causal LM itself (through a peft wrapper, which passes keyword arguments on)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.forward


def decode_batch(model, tokenizer, rows: list[Row]) -> list[Row]:
    """Decode every row to its end; returns the rows with ``text``, ``tokens`` and ``finish_reason`` set."""
    from transformers import DynamicCache

    from .chat_format import pad_batch

    for row in rows:
        if row.options.seed is not None:
            row.generator = torch.Generator().manual_seed(row.options.seed)
    ids, mask = pad_batch([r.prompt for r in rows], tokenizer.pad_token_id, left=True)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    # the prompt's logits are needed at its last position only (not batch x length x vocabulary)
    last_only = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(_forward_of(model)).parameters else {}
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True,
                    **last_only)
        while True:
            logits = out.logits[:, -1, :]
            step = []
            for i, row in enumerate(rows):
                if row.finish_reason is None and row.cancelled():
                    row.finish_reason = "cancelled"
                if row.finish_reason is None:
                    token = _pick(logits[i], row)
                    _advance(tokenizer, row, token)
                    step.append(token)
                else:
                    step.append(tokenizer.pad_token_id)
            if all(r.finish_reason is not None for r in rows):
                break
            mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=mask.dtype)], dim=1)
            positions = positions[:, -1:] + 1
            out = model(input_ids=torch.tensor(step).unsqueeze(1), attention_mask=mask, position_ids=positions,
                        past_key_values=out.past_key_values, use_cache=True)
    for row in rows:  # text held back for a character in progress, never completed
        if row.text != (final := cut_at_stop(tokenizer.decode(
                [t for t in row.tokens if t != tokenizer.eos_token_id], skip_special_tokens=True), row.options.stop)[0]):
            if len(final) > len(row.text):
                row.emit(final[len(row.text):])
            row.text = final
    return rows
