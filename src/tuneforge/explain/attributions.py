"""Which words drove a prediction: integrated gradients (Captum's ``LayerIntegratedGradients``) on the
word-embedding layer of a text classifier or regressor, merged from sub-word pieces to words.

The baseline is the same input with every ordinary token replaced by the pad token (special tokens
such as [CLS] and [SEP] kept). By completeness, the attributions of a text sum to the target output's
difference between the input and the baseline; the convergence delta Captum reports is how far the
numerical integral is from that, and ``relative_delta`` divides it by the output difference.

Example:
    >>> result = explain_texts(Predictor.load("runs/sst2/bundle"), ["a dull, lifeless film"])[0]
    >>> result["label"], max(result["words"], key=lambda w: abs(w["attribution"]))["word"]
    ('negative', 'dull')
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError

DEFAULT_STEPS = 50
MAX_STEPS = 500


def _captum():
    try:
        from captum.attr import LayerIntegratedGradients
    except ImportError:
        raise ConfigError("explanations need Captum: pip install 'tuneforge[explain]'") from None
    return LayerIntegratedGradients


def _check_steps(steps: int) -> None:
    if not 1 <= steps <= MAX_STEPS:
        raise ConfigError(f"steps must be between 1 and {MAX_STEPS}, not {steps}")


def _check(predictor) -> None:
    task = predictor.task
    if predictor.backend != "torch":
        raise ConfigError("integrated gradients need the PyTorch model: load the bundle with backend torch")
    if task.logit_kind is None:
        raise ConfigError(f"explanations cover text classification and regression; {task.name} is not yet")
    if not hasattr(predictor.model, "get_input_embeddings") or predictor.model.get_input_embeddings() is None:
        raise ConfigError("this bundle's model has no word-embedding layer to attribute to")


def word_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the whitespace-separated words of ``text``."""
    spans, start = [], None
    for i, ch in enumerate(text + " "):
        if ch.isspace():
            if start is not None:
                spans.append((start, i))
                start = None
        elif start is None:
            start = i
    return spans


def _words(text: str, offsets: list[tuple[int, int]], scores: np.ndarray, first: int, last: int) -> list[dict]:
    """Sum the pieces' attributions per whitespace-separated word of ``text`` (pieces ``first..last``)."""
    spans = word_spans(text)
    totals = [0.0] * len(spans)
    for piece in range(first, last):
        a, b = offsets[piece]
        if b <= a:
            continue
        for w, (s, e) in enumerate(spans):
            if a < e and b > s:
                totals[w] += float(scores[piece])
                break
    return [{"word": text[s:e], "start": s, "end": e, "attribution": round(t, 6)} for (s, e), t in zip(spans, totals)]


def explain_texts(predictor, texts: list[str], text_pairs: list[str | None] | None = None, target: str | None = None,
                  steps: int = DEFAULT_STEPS) -> list[dict[str, Any]]:
    """Per-word attributions of each text to its predicted label (or ``target``, a label name; the value
    for regression), with the output difference they explain and the convergence delta."""
    import torch

    _check_steps(steps)
    _check(predictor)
    lig_class = _captum()
    model, tokenizer, task = predictor.model, predictor.tokenizer, predictor.task
    names = predictor.label_names
    values = task.logit_kind == "value"
    if target is not None and not values and target not in names:
        raise ConfigError(f"target {target!r} is not one of the labels: {', '.join(names)}")
    predictions = predictor.predict([{"text": t, "text_pair": p} for t, p in
                                     zip(texts, text_pairs or [None] * len(texts))])
    model.eval()

    def forward(input_ids, attention_mask, token_type_ids=None):
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        return model(**kwargs).logits

    lig = lig_class(forward, model.get_input_embeddings())
    special = set(tokenizer.all_special_ids)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    results = []
    for n, text in enumerate(texts):
        pair = (text_pairs or [None] * len(texts))[n]
        encoded = tokenizer(text, pair, truncation=True, max_length=predictor.max_length, return_tensors="pt",
                            return_offsets_mapping=True)
        offsets = [tuple(o) for o in encoded.pop("offset_mapping")[0].tolist()]
        ids = encoded["input_ids"]
        baseline = torch.tensor([[t if t in special else pad for t in ids[0].tolist()]])
        prediction = predictions[n]
        if values:
            index, label = 0, None
        else:
            label = target or (prediction["label"] if "label" in prediction else
                               max(prediction["scores"], key=prediction["scores"].get))
            index = names.index(label)
        extra = (encoded["attention_mask"],) + ((encoded["token_type_ids"],) if "token_type_ids" in encoded else ())
        attributions, delta = lig.attribute(ids, baselines=baseline, additional_forward_args=extra, target=index,
                                            n_steps=steps, return_convergence_delta=True)
        scores = attributions.sum(dim=-1)[0].detach().numpy()
        with torch.inference_mode():
            difference = float(forward(ids, *extra)[0, index] - forward(baseline, *extra)[0, index])
        sequence = encoded.sequence_ids(0) if hasattr(encoded, "sequence_ids") else None
        first_pieces = [i for i, s in enumerate(sequence or []) if s == 0] or list(range(len(offsets)))
        result = {"text": text, "target": label if label is not None else "value", "method": "integrated_gradients",
                  "words": _words(text, offsets, scores, first_pieces[0], first_pieces[-1] + 1),
                  "output_difference": round(difference, 6), "attribution_sum": round(float(scores.sum()), 6),
                  "convergence_delta": round(float(delta[0]), 6),
                  "relative_delta": round(abs(float(delta[0])) / max(abs(difference), 1e-9), 6), "steps": steps}
        if pair:
            second = [i for i, s in enumerate(sequence or []) if s == 1]
            if second:
                result["pair_words"] = _words(pair, offsets, scores, second[0], second[-1] + 1)
        results.append({**prediction, **result})
    return results


def highlight_html(result: dict[str, Any]) -> str:
    """A small HTML snippet: each word on a background whose colour and strength show its attribution
    (green for the target, red against)."""
    from html import escape

    words = result["words"]
    top = max((abs(w["attribution"]) for w in words), default=0.0) or 1.0
    spans = []
    for w in words:
        strength = min(1.0, abs(w["attribution"]) / top)
        colour = (26, 127, 55) if w["attribution"] >= 0 else (207, 34, 46)
        spans.append(f"<span title='{w['attribution']:+.4f}' style='background: rgba({colour[0]},{colour[1]},"
                     f"{colour[2]},{strength * 0.6:.2f}); padding: 0 2px; border-radius: 2px'>{escape(w['word'])}</span>")
    return f"<p class='explanation'>{' '.join(spans)}</p>"
