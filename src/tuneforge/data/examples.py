"""Turn rows of any supported file into examples, checking each one; the task decides what a row means.

Text examples are dicts ``{"text", "text_pair", "label", "where"}``; what ``label`` holds is the
task's (a class name, a list of names, numbers); entity examples are ``{"tokens", "tags", "where"}``.
``where`` is ``"file line N"`` for messages. ``read_examples`` asks the task (``Task.read_examples``);
the helpers here are what the tasks share.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import DataError
from .readers import Row, infer_format, read_jsonl, read_table
from .text import text_problem


def label_value(value: Any, where: str, column: str, names: list[str] | dict[str, str] | None) -> str:
    """Normalise one label cell to its string name: with ``names`` a list, an integer cell is an index
    into it; with a mapping, a raw label (its key) becomes its name."""
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
    if isinstance(names, dict):  # raw label -> name, e.g. {1: terrible, 3: ok, 5: great}
        if text in names:
            return names[text]
        if text in names.values():
            return text
        raise DataError(f"{where}: label {text!r} is not one of the raw labels of data.label_names "
                        f"({', '.join(names)}) nor one of its names")
    if names is not None:
        if not text.lstrip("-").isdigit():
            if text in names:
                return text
            raise DataError(f"{where}: label {text!r} is neither an index nor one of data.label_names {names}")
        index = int(text)
        if not 0 <= index < len(names):
            raise DataError(f"{where}: label index {index} is outside data.label_names (0..{len(names) - 1}); for "
                            f"raw labels that are not indexes give a mapping, e.g. label_names: {{{index}: name, ...}}")
        return names[index]
    return text


def multi_labels(value: Any, where: str, column: str, delimiter: str | None,
                 names: list[str] | dict[str, str] | None) -> list[str]:
    """Normalise a multi-label cell (a list, or a delimited string) to a sorted list of names."""
    if isinstance(value, list):
        items = value
    elif isinstance(value, str):
        items = value.split(delimiter or "|") if value.strip() else []
    elif value is None:
        items = []
    else:
        items = [value]
    labels = sorted({label_value(v, where, column, names) for v in items if str(v).strip()})
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


def read_text_rows(path: Path, fmt: str, *, text_column: str = "text", text_pair_column: str | None = None,
                   label_columns: list[str] | tuple[str, ...] = ("label",), require_labels: bool = True,
                   parse_label: Callable[[dict[str, Any], str], Any] | None = None) -> list[dict[str, Any]]:
    """Read a CSV/TSV/JSONL file into text examples ``{"text", "text_pair", "where"}``, plus ``label``
    (``parse_label(row values, where)``) when ``require_labels``: the reading every text task shares."""
    if fmt not in ("csv", "tsv", "jsonl"):
        raise DataError(f"{path}: this task reads CSV, TSV or JSONL files, not {fmt}")
    columns, rows = read_jsonl(path) if fmt == "jsonl" else read_table(path, "," if fmt == "csv" else "\t")
    wanted = [text_column] + ([text_pair_column] if text_pair_column else [])
    if require_labels:
        wanted += list(label_columns)
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
            example["label"] = parse_label(row.values, where)
        examples.append(example)
    return examples


def read_task_file(task, path: str | Path, data_format: str | None, columns: "DataColumns",
                   require_labels: bool = True, format_setting: str = "data.format") -> list[dict[str, Any]]:
    """Read a data file the way ``task`` reads it (``Task.read_examples``); an empty result is an error.
    ``format_setting`` names where the user gives the format (the config key, or a CLI flag)."""
    path = Path(path)
    examples = task.read_examples(path, data_format or infer_format(path, task, format_setting), columns,
                                  require_labels)
    if not examples:
        raise DataError(f"{path}: no examples found (the data set is empty)")
    return examples


@dataclass
class DataColumns:
    """Where a tabular file keeps what a task reads (the ``data`` section's column options)."""

    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    label_delimiter: str | None = None
    label_names: list[str] | dict[str, str] | None = None
    prompt_column: str | None = None
    response_columns: list[str] | None = None
    system_column: str | None = None
    prompt_template: str | None = None

    @classmethod
    def of(cls, data_cfg) -> "DataColumns":
        """The columns of a ``data`` config section (or a manifest's ``data`` mapping)."""
        get = data_cfg.get if isinstance(data_cfg, dict) else lambda key, default=None: getattr(data_cfg, key, default)
        response = get("response_column")
        return cls(text_column=get("text_column") or "text", text_pair_column=get("text_pair_column"),
                   label_column=get("label_column") or "label", label_delimiter=get("label_delimiter"),
                   label_names=get("label_names"), prompt_column=get("prompt_column"),
                   response_columns=[response] if isinstance(response, str) else response,
                   system_column=get("system_column"), prompt_template=get("prompt_template"))


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
