"""Leave-one-word-out explanations (``--method occlusion``): each word's attribution is how much the
target's score falls when that word is removed from the text. Needs only predictions, so it works on
every backend (ONNX exports included) and for any text classifier or regressor.

The score is the target label's probability (classification, multi-label) or the predicted value
(regression; the first target when there are several). One prediction per word plus one: the cost
grows with the text's length.

Example:
    >>> result = occlusion_texts(Predictor.load("runs/sst2/bundle", backend="onnx"), ["a dull film"])[0]
    >>> max(result["words"], key=lambda w: w["attribution"])["word"]
    'dull'
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .attributions import word_spans

MAX_WORDS = 512  # one prediction per word: longer texts are refused


def _score(prediction: dict[str, Any], target: str | None) -> float:
    if target is None:
        values = prediction.get("values") or {}
        return float(prediction.get("value", next(iter(values.values()), 0.0)))
    return float(prediction["scores"][target])


def occlusion_texts(predictor, texts: list[str], text_pairs: list[str | None] | None = None,
                    target: str | None = None) -> list[dict[str, Any]]:
    """Per-word occlusion attributions of each text (the first text of a pair) to its predicted label
    (or ``target``; the value for regression): the target score with the whole text minus the score
    without that word."""
    task = predictor.task
    if task.logit_kind is None:
        raise ConfigError(f"occlusion covers text classification and regression; {task.name} is not")
    values = task.logit_kind == "value"
    names = predictor.label_names
    if target is not None and not values and target not in names:
        raise ConfigError(f"target {target!r} is not one of the labels: {', '.join(names)}")
    pairs = text_pairs or [None] * len(texts)
    results = []
    for text, pair in zip(texts, pairs):
        spans = word_spans(text)
        if len(spans) > MAX_WORDS:
            raise ConfigError(f"occlusion explains texts of at most {MAX_WORDS} words; this one has {len(spans)}")
        variants = [text] + [(text[:s] + text[e:]).strip() or text for s, e in spans]
        predictions = predictor.predict([{"text": v, "text_pair": pair} for v in variants])
        whole = predictions[0]
        label = None if values else (target or whole.get("label") or max(whole["scores"], key=whole["scores"].get))
        full = _score(whole, label)
        words = [{"word": text[s:e], "start": s, "end": e, "attribution": round(full - _score(p, label), 6)}
                 for (s, e), p in zip(spans, predictions[1:])]
        results.append({**whole, "text": text, "target": label if label is not None else "value",
                        "method": "occlusion", "target_score": round(full, 6), "words": words})
    return results
