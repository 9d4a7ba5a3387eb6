"""Question answering data: SQuAD JSON (``data[].paragraphs[].{context, qas[]}``) and flat CSV/TSV/JSONL rows
(``question``, ``context``, and ``answer_text`` + ``answer_start`` or an ``answers`` list), each answer
checked against its context. An example is ``{"question", "context", "answers": [{"text", "start"}],
"id", "text", "where"}`` (``text``: the question, what duplicate and leakage checks compare).

Example:
    >>> read_qa_examples(Path("dev-v1.1.json"), "json", allow_no_answer=False)[0]["answers"][0]
    {'text': 'Denver Broncos', 'start': 177}
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import DataError


def _answers(raw: Any, context: str, where: str) -> list[dict[str, Any]]:
    """A list of ``{text, answer_start}`` records (or SQuAD's columnar ``{text: [...], answer_start: [...]}``)
    as checked answers."""
    if isinstance(raw, dict) and isinstance(raw.get("text"), list):
        raw = [{"text": t, "answer_start": s} for t, s in zip(raw["text"], raw.get("answer_start") or [])]
    if not isinstance(raw, list):
        raise DataError(f"{where}: answers must be a list of {{text, answer_start}}")
    return [checked_answer(a.get("text") if isinstance(a, dict) else None,
                           a.get("answer_start") if isinstance(a, dict) else None, context, where) for a in raw]


def checked_answer(text: Any, start: Any, context: str, where: str) -> dict[str, Any]:
    """One answer whose ``start`` points at ``text`` in ``context``, else a ``DataError`` saying what is there."""
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"{where}: an answer has no text")
    try:
        position = int(start)
        if isinstance(start, bool) or str(position) != str(start).strip().removesuffix(".0"):
            raise ValueError
    except (TypeError, ValueError):
        raise DataError(f"{where}: answer_start {start!r} is not a character position") from None
    found = context[position:position + len(text)] if 0 <= position <= len(context) else ""
    if found != text:
        raise DataError(f"{where}: answer_start {position} does not point at the answer {text[:40]!r}: the context "
                        f"there reads {found[:40]!r}")
    return {"text": text, "start": position}


def _example(question: Any, context: Any, answers: list[dict[str, Any]], qid: str, where: str,
             require_answers: bool, allow_no_answer: bool) -> dict[str, Any]:
    if not isinstance(question, str) or not question.strip():
        raise DataError(f"{where}: missing question")
    if not isinstance(context, str) or not context.strip():
        raise DataError(f"{where}: missing context")
    if require_answers and not answers and not allow_no_answer:
        raise DataError(f"{where}: the question has no answer (set task.allow_no_answer: true for SQuAD 2.0 "
                        "style unanswerable questions)")
    return {"question": question, "context": context, "answers": answers, "id": qid, "text": question,
            "text_pair": None, "where": where}


def read_squad_json(path: Path, require_answers: bool, allow_no_answer: bool) -> list[dict[str, Any]]:
    """The questions of a SQuAD JSON file (v1.1 or v2.0), where = the file and the question's id."""
    from ..data.readers import read_json_value

    value = read_json_value(path)
    if not isinstance(value, dict) or not isinstance(value.get("data"), list):
        raise DataError(f"{path}: expected SQuAD JSON ({{\"data\": [{{\"paragraphs\": [...]}}]}})")
    examples = []
    for a, article in enumerate(value["data"]):
        for p, paragraph in enumerate(article.get("paragraphs") or [] if isinstance(article, dict) else []):
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            for q, qa in enumerate(paragraph.get("qas") or [] if isinstance(paragraph, dict) else []):
                qid = str(qa.get("id", f"{a}.{p}.{q}")) if isinstance(qa, dict) else f"{a}.{p}.{q}"
                where = f"{path} question {qid}"
                if not isinstance(qa, dict):
                    raise DataError(f"{where}: a question must be a JSON object")
                impossible = bool(qa.get("is_impossible"))
                answers = [] if impossible else _answers(qa.get("answers") or [], context or "", where) \
                    if require_answers else []
                examples.append(_example(qa.get("question"), context, answers, qid, where, require_answers,
                                         allow_no_answer))
    if not examples:
        raise DataError(f"{path}: no questions in this SQuAD file")
    return examples


def read_qa_rows(path: Path, fmt: str, require_answers: bool, allow_no_answer: bool) -> list[dict[str, Any]]:
    """Flat rows: ``question``, ``context``, and ``answer_text`` + ``answer_start`` or ``answers``."""
    from ..data.readers import read_records

    examples = []
    for row in read_records(path, fmt):
        values = row.values
        where = f"{path} line {row.line}" if fmt != "json" else f"{path} record {row.line}"
        context = values.get("context")
        answers: list[dict[str, Any]] = []
        if require_answers:
            if "answers" in values:
                raw = values["answers"]
                if isinstance(raw, str):
                    try:
                        raw = json.loads(raw)
                    except ValueError:
                        raise DataError(f"{where}: answers is not JSON") from None
                answers = _answers(raw, context or "", where)
            elif str(values.get("answer_text") or "").strip():
                answers = [checked_answer(values.get("answer_text"), values.get("answer_start"), context or "",
                                          where)]
            elif "answer_text" not in values:
                raise DataError(f"{where}: no answer column: give answer_text and answer_start, or answers")
        qid = str(values.get("id") or row.line)
        examples.append(_example(values.get("question"), context, answers, qid, where, require_answers,
                                 allow_no_answer))
    return examples


def is_squad_json(path: Path) -> bool:
    """Whether a ``.json`` file is SQuAD's nested format (an object with ``data``) rather than a list of rows."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2048).lstrip()
    except OSError:
        return False
    return head.startswith(b"{")
