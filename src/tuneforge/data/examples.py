"""Turn rows of any supported file into task examples, checking each one.

Classification examples are dicts ``{"text", "text_pair", "label", "where"}`` (``label`` is a
string, or a list of strings for multi-label). Entity examples are
``{"tokens", "tags", "where"}``. ``where`` is ``"file line N"`` for messages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import DataError
from .readers import Row, infer_format, read_conll, read_jsonl, read_table
from .text import text_problem


def _label_value(value: Any, where: str, column: str, names: list[str] | None) -> str:
    """Normalise one label cell to its string name."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise DataError(f"{where}: missing label in column {column!r}")
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        raise DataError(f"{where}: label {value!r} in column {column!r} must be a string or an integer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    problem = text_problem(text)
    if problem:
        raise DataError(f"{where}: the label in column {column!r} {problem}")
    if names is not None:
        if not text.lstrip("-").isdigit():
            if text in names:
                return text
            raise DataError(f"{where}: label {text!r} is neither an index nor one of data.label_names {names}")
        index = int(text)
        if not 0 <= index < len(names):
            raise DataError(f"{where}: label index {index} is outside data.label_names (0..{len(names) - 1})")
        return names[index]
    return text


def _multi_labels(value: Any, where: str, column: str, delimiter: str | None, names: list[str] | None) -> list[str]:
    """Normalise a multi-label cell (a list, or a delimited string) to a sorted list of names."""
    if isinstance(value, list):
        items = value
    elif isinstance(value, str):
        items = value.split(delimiter or "|") if value.strip() else []
    elif value is None:
        items = []
    else:
        items = [value]
    labels = sorted({_label_value(v, where, column, names) for v in items if str(v).strip()})
    return labels


def _text_value(row: Row, column: str, where: str) -> str:
    value = row.values.get(column)
    if value is None:
        raise DataError(f"{where}: missing value in column {column!r}")
    if not isinstance(value, str):
        raise DataError(f"{where}: column {column!r} must hold text, found {type(value).__name__}")
    if not value.strip():
        raise DataError(f"{where}: empty text in column {column!r}")
    problem = text_problem(value)
    if problem:
        raise DataError(f"{where}: the text in column {column!r} {problem}")
    return value


def read_examples(
    path: str | Path,
    *,
    task_type: str,
    data_format: str | None = None,
    text_column: str = "text",
    text_pair_column: str | None = None,
    label_column: str = "label",
    label_delimiter: str | None = None,
    label_names: list[str] | None = None,
    require_labels: bool = True,
) -> list[dict[str, Any]]:
    """Read a data file into checked examples for ``task_type``.

    Example:
        >>> read_examples("examples/support_tickets.csv", task_type="classification")[0]["label"]
        'billing'
    """
    path = Path(path)
    fmt = data_format or infer_format(path, task_type)
    if task_type == "token_classification":
        if fmt != "conll":
            raise DataError(f"{path}: entity tagging reads CoNLL files ('token TAG' per line), not {fmt}")
        examples = [
            {"tokens": s.tokens, "tags": s.tags, "where": f"{path} line {s.line}"}
            for s in read_conll(path, require_tags=require_labels)
        ]
    else:
        if fmt == "conll":
            raise DataError(f"{path}: CoNLL files are for token_classification, not {task_type}")
        columns, rows = read_jsonl(path) if fmt == "jsonl" else read_table(path, "," if fmt == "csv" else "\t")
        wanted = [text_column] + ([text_pair_column] if text_pair_column else [])
        if require_labels:
            wanted.append(label_column)
        for column in wanted:
            if column not in columns:
                raise DataError(f"{path}: column {column!r} not found; the file has: {', '.join(columns) or 'none'}")
        examples = []
        for row in rows:
            where = f"{path} line {row.line}"
            example: dict[str, Any] = {
                "text": _text_value(row, text_column, where),
                "text_pair": _text_value(row, text_pair_column, where) if text_pair_column else None,
                "where": where,
            }
            if require_labels:
                raw = row.values.get(label_column)
                if task_type == "multilabel":
                    example["label"] = _multi_labels(raw, where, label_column, label_delimiter, label_names)
                else:
                    example["label"] = _label_value(raw, where, label_column, label_names)
            examples.append(example)
    if not examples:
        raise DataError(f"{path}: no examples found (the data set is empty)")
    return examples


def read_plain_texts(path: str | Path) -> list[dict[str, Any]]:
    """Read one text per line (for ``predict --input file.txt``)."""
    from .readers import read_text

    path = Path(path)
    texts = [
        {"text": line, "text_pair": None, "where": f"{path} line {i}"}
        for i, line in enumerate(read_text(path).splitlines(), start=1)
        if line.strip()
    ]
    if not texts:
        raise DataError(f"{path}: no texts found (the file is empty)")
    for text in texts:
        problem = text_problem(text["text"])
        if problem:
            raise DataError(f"{text['where']}: the text {problem}")
    return texts
