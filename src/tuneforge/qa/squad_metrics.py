"""SQuAD's official answer normalisation, exact match and token F1 (max over the reference answers), and
the report's breakdowns: by question type (the wh-word) and by answer length.

Example:
    >>> exact_match("The Denver Broncos", ["Denver Broncos"]), round(token_f1("Denver", ["Denver Broncos"]), 3)
    (1.0, 0.667)
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from ..generation.text_metrics import normalise
from ..generation.text_metrics import token_f1 as reference_f1

normalize_answer = normalise  # SQuAD's official normalisation: lower case, no punctuation or articles
QUESTION_TYPES = ("who", "what", "when", "where", "why", "how", "which")
LENGTH_BUCKETS = ((1, 1, "1 word"), (2, 2, "2 words"), (3, 5, "3-5 words"), (6, 10**9, "6+ words"))


def exact_match(prediction: str, references: list[str]) -> float:
    """1.0 when the normalised prediction equals any normalised reference ("" for no answer)."""
    return float(any(normalize_answer(prediction) == normalize_answer(r) for r in references or [""]))


def token_f1(prediction: str, references: list[str]) -> float:
    """The best token-overlap F1 against any reference."""
    return max(reference_f1(prediction, r) for r in references or [""])


def question_type(question: str) -> str:
    """The first wh-word of the question (``other`` when there is none)."""
    words = re.findall(r"[a-z]+", question.lower())
    return next((w for w in words if w in QUESTION_TYPES), "other")


def length_bucket(answer: str) -> str:
    """The answer-length bucket of a reference answer, in words (``no answer`` when empty)."""
    n = len(answer.split())
    return "no answer" if n == 0 else next(name for low, high, name in LENGTH_BUCKETS if low <= n <= high)


def squad_scores(examples: list[dict[str, Any]], predictions: list[dict[str, Any]]) -> dict[str, Any]:
    """Exact match and F1 in percent (SQuAD's scale) over all questions, by question type and by the
    length of the first reference answer; each example's ``answers`` are its references."""
    rows = []
    for example, prediction in zip(examples, predictions):
        references = [a["text"] for a in example["answers"]] or [""]
        rows.append((question_type(example["question"]), length_bucket(references[0]),
                     exact_match(prediction["answer"], references), token_f1(prediction["answer"], references)))

    def summary(selected) -> dict[str, float]:
        return {"exact_match": 100 * sum(r[2] for r in selected) / len(selected),
                "f1": 100 * sum(r[3] for r in selected) / len(selected), "n": len(selected)}

    groups: dict[str, dict[str, list]] = {"by_question_type": defaultdict(list), "by_answer_length": defaultdict(list)}
    for row in rows:
        groups["by_question_type"][row[0]].append(row)
        groups["by_answer_length"][row[1]].append(row)
    metrics: dict[str, Any] = {**summary(rows)} if rows else {"exact_match": 0.0, "f1": 0.0, "n": 0}
    for key, grouped in groups.items():
        metrics[key] = {name: summary(selected) for name, selected in sorted(grouped.items())}
    return metrics
