"""Latency and throughput of a model on real texts, the same way for every variant (``compress``)
and every method (the advisor of ``compare``)."""

from __future__ import annotations

import statistics
import time
from typing import Any


def torch_int8(model):
    """PyTorch dynamic int8 quantization of every ``nn.Linear`` (weights int8, activations on the fly).

    Deterministic from the fp32 weights, so a bundle needs no extra file for it.
    """
    import warnings

    import torch
    from torch import nn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch marks its quantized tensors deprecated in favour of torchao
        return torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8).eval()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def example_text(example: dict[str, Any]) -> str:
    """The text a timing feeds the model for one example (a token list is joined with spaces)."""
    return example.get("text") or " ".join(example.get("tokens", []))


def latency(model, tokenizer, texts: list[str], batch_size: int, max_length: int = 128, warmup: int = 3,
            max_batches: int | None = None, pairs: list[str] | None = None) -> dict[str, Any]:
    """Time ``model`` on ``texts`` (and second texts ``pairs``) in batches of ``batch_size``
    (tokenized before timing, padded per batch).

    Returns p50/p95 milliseconds per batch and texts per second. The first ``warmup`` batches
    are run untimed.

    Example:
        >>> latency(model, tokenizer, dev_sentences[:200], batch_size=1)["p50_ms"]
        4.1
    """

    batches = [tokenizer(texts[i : i + batch_size], pairs[i : i + batch_size] if pairs else None, padding=True,
                         truncation=True, max_length=max_length, return_tensors="pt")
               for i in range(0, len(texts), batch_size)]
    if max_batches:
        batches = batches[:max_batches]
    names = {"input_ids", "attention_mask", "token_type_ids"}
    return timed_batches(model, [{k: v for k, v in b.items() if k in names} for b in batches], batch_size, warmup)


def timed_batches(model, batches: list[dict[str, Any]], batch_size: int, warmup: int = 3) -> dict[str, Any]:
    """Time ``model`` on ready input ``batches`` (dicts of tensors): p50/p95 milliseconds per batch and
    inputs per second, the first ``warmup`` batches untimed."""
    import torch

    times = []
    with torch.inference_mode():
        for batch in batches[:warmup]:
            model(**batch)
        for batch in batches:
            started = time.perf_counter()
            model(**batch)
            times.append(time.perf_counter() - started)
    count = sum(len(next(iter(b.values()))) for b in batches)
    return {"batch_size": batch_size, "batches": len(batches), "p50_ms": 1000 * statistics.median(times),
            "p95_ms": 1000 * _percentile(times, 95), "texts_per_second": count / sum(times)}
