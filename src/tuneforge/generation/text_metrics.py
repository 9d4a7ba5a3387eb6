"""Metrics of generated text against one or several references.

ROUGE-1/2/L F-measures (Google's ``rouge-score`` package, Porter stemming), exact match and token F1
(SQuAD-style normalisation: lower case, no punctuation or articles), each the best over an example's
references and averaged over examples (x100, as papers report them); plus the average output length.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from typing import Any

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def _rouge_scorer():
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        from ..errors import ConfigError

        raise ConfigError("generation metrics need rouge-score: pip install rouge-score==0.1.2") from None
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def normalise(text: str) -> str:
    """Lower case, punctuation and articles removed, whitespace collapsed."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, reference: str) -> float:
    """F1 of the normalised tokens shared by prediction and reference."""
    pred, ref = normalise(prediction).split(), normalise(reference).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def text_metrics(predictions: list[str], references: list[list[str]]) -> dict[str, Any]:
    """ROUGE-1/2/L, exact match and token F1 (best over each example's references), x100; average
    output length in words. Examples without a reference are left out (``n`` counts the rest)."""
    scorer = _rouge_scorer()
    totals = {k: 0.0 for k in (*ROUGE_TYPES, "exact_match", "token_f1")}
    n = 0
    for prediction, refs in zip(predictions, references):
        refs = [r for r in refs if r and r.strip()]
        if not refs:
            continue
        n += 1
        scores = [scorer.score(r, prediction) for r in refs]
        for key in ROUGE_TYPES:
            totals[key] += max(s[key].fmeasure for s in scores)
        totals["exact_match"] += max(float(normalise(prediction) == normalise(r)) for r in refs)
        totals["token_f1"] += max(token_f1(prediction, r) for r in refs)
    metrics = {k: round(100 * v / n, 3) if n else 0.0 for k, v in totals.items()}
    metrics["n"] = n
    metrics["output_words"] = round(sum(len(p.split()) for p in predictions) / max(1, len(predictions)), 2)
    return metrics
