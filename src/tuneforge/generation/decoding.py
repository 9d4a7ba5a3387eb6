"""Decoding settings and batched generation (left padding, one ``generate`` call per batch).

Greedy decoding is the default (and what evaluation uses); sampling takes ``temperature``, ``top_p``
and ``top_k``. Generation stops at the EOS token, at any of the ``stop`` strings (cut from the
output), or after ``max_new_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

from pydantic import Field

from ..schema import StrictModel


class DecodingOptions(StrictModel):
    """How to decode: ``task.decoding`` in the config; ``generate``, ``chat`` and the server override it."""

    max_new_tokens: int = Field(128, ge=1, le=4096)
    do_sample: bool = False
    temperature: float = Field(1.0, gt=0, le=10)
    top_p: float = Field(1.0, gt=0, le=1)
    top_k: int = Field(0, ge=0, le=100000, description="0: off")
    repetition_penalty: float = Field(1.0, gt=0, le=10)
    stop: list[str] = Field(default_factory=list, max_length=8)
    seed: int | None = Field(None, ge=0, lt=2**32, description="sampling seed (reproducible outputs)")


@dataclass
class Generated:
    """One generated answer: its text, how many tokens it took and why it stopped."""

    text: str
    tokens: int
    finish_reason: str  # "stop" (EOS or a stop string) or "length"


def generate_kwargs(options: DecodingOptions, tokenizer) -> dict[str, Any]:
    """Keyword arguments for ``model.generate`` from the decoding options."""
    kwargs: dict[str, Any] = {"max_new_tokens": options.max_new_tokens, "do_sample": options.do_sample,
                              "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
                              "repetition_penalty": options.repetition_penalty}
    if options.do_sample:
        kwargs.update(temperature=options.temperature, top_p=options.top_p, top_k=options.top_k or None)
    else:
        kwargs.update(temperature=None, top_p=None, top_k=None)
    if options.stop:
        kwargs.update(stop_strings=list(options.stop), tokenizer=tokenizer)
    return kwargs


def cut_at_stop(text: str, stop: list[str]) -> tuple[str, bool]:
    """``text`` up to the first stop string, and whether one was found."""
    cuts = [text.find(s) for s in stop if s and s in text]
    return (text[: min(cuts)], True) if cuts else (text, False)


def _finish(tokenizer, new_ids: list[int], options: DecodingOptions) -> Generated:
    eos = tokenizer.eos_token_id
    ended = eos in new_ids
    if ended:
        new_ids = new_ids[: new_ids.index(eos)]
    new_ids = [t for t in new_ids if t != tokenizer.pad_token_id or t == eos]
    text, stopped = cut_at_stop(tokenizer.decode(new_ids, skip_special_tokens=True), options.stop)
    reason = "stop" if ended or stopped or len(new_ids) < options.max_new_tokens else "length"
    return Generated(text.strip(), len(new_ids) + int(ended), reason)


def generate_batch(model, tokenizer, prompts: list[list[int]], options: DecodingOptions) -> list[Generated]:
    """Generate one answer per prompt (token ids) in a single left-padded ``generate`` call."""
    import torch

    from .chat_format import pad_batch

    if options.seed is not None:
        torch.manual_seed(options.seed)
    ids, mask = pad_batch(prompts, tokenizer.pad_token_id, left=True)
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, **generate_kwargs(options, tokenizer))
    return [_finish(tokenizer, row[ids.shape[1]:].tolist(), options) for row in out]


def generate_all(model, tokenizer, prompts: list[list[int]], options: DecodingOptions, batch_size: int = 8,
                 progress=None) -> list[Generated]:
    """``generate_batch`` over many prompts in length-sorted batches; results in input order."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[Generated | None] = [None] * len(prompts)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        for i, generated in zip(idx, generate_batch(model, tokenizer, [prompts[i] for i in idx], options)):
            results[i] = generated
        if progress is not None:
            progress(len(idx))
    return results  # type: ignore[return-value]


def stream(model, tokenizer, prompt: list[int], options: DecodingOptions) -> Iterator[str]:
    """Yield the answer to one prompt piece by piece as it is generated (stop strings cut it short)."""
    import threading

    import torch
    from transformers import TextIteratorStreamer

    if options.seed is not None:
        torch.manual_seed(options.seed)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    ids = torch.tensor([prompt])
    kwargs = {**generate_kwargs(options, tokenizer), "streamer": streamer}
    errors: list[BaseException] = []

    def run():
        try:
            with torch.inference_mode():
                model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
        except BaseException as exc:  # reported to the caller after the stream ends
            errors.append(exc)
            streamer.end()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    emitted = ""
    for piece in streamer:
        text, stopped = cut_at_stop(emitted + piece, options.stop)
        if len(text) > len(emitted):
            yield text[len(emitted):]
            emitted = text
        if stopped:
            break
    thread.join(timeout=0.1 if emitted else None)
    if errors:
        raise errors[0]
