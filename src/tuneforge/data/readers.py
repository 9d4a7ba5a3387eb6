"""Readers for CSV, TSV, JSONL and CoNLL files that report problems by file and line.

Each reader returns plain Python rows tagged with the line they came from, so every
later check can say exactly where a problem is.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError

EXTENSION_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".json": "json",
    ".ndjson": "jsonl",
    ".conll": "conll",
    ".iob": "conll",
    ".bio": "conll",
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}  # one image: predict input
_IOB_TAG = re.compile(r"^(O|[BIES]-\S+)$")


@dataclass
class Row:
    """One record of a tabular file: its values and the line it starts on."""

    line: int
    values: dict[str, Any]


@dataclass
class Sentence:
    """One CoNLL sentence: tokens, their tags (None for unlabelled input) and its first line."""

    line: int
    tokens: list[str]
    tags: list[str] | None = field(default=None)


def infer_format(path: Path, task=None, setting: str = "data.format") -> str:
    """Guess the format from the file extension; ``.txt`` means what ``task.plain_text_format`` says
    (CoNLL for entity tagging), if anything. ``setting``: what the error tells the user to set."""
    suffix = path.suffix.lower()
    known = data_format_of(path)
    if known is not None:
        return known
    if suffix == ".txt" and getattr(task, "plain_text_format", None):
        return task.plain_text_format
    raise DataError(
        f"{path}: cannot tell the format from the extension {suffix!r}; "
        f"set {setting} to one of csv, tsv, jsonl, json, conll, idx, imagefolder"
    )


def read_text(path: str | Path) -> str:
    """Read a UTF-8 file (BOM allowed), naming the line of the first invalid byte."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{Path(path).absolute()}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a file")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(
            f"{path} line {line}: byte 0x{raw[exc.start]:02x} at column {column} is not valid UTF-8; "
            "save the file as UTF-8"
        ) from None


def read_table(path: str | Path, delimiter: str) -> tuple[list[str], list[Row]]:
    """Read a CSV or TSV file with a header row; returns (columns, rows).

    TSV is read without quote handling (a tab-separated cell may hold a bare ``"``);
    stray carriage returns (Windows line ends, or a ``\r`` before a tab) are dropped.
    """
    path = Path(path)
    text = read_text(path).replace("\r\n", "\n").replace("\r", "")
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    try:
        header = next(reader, None)
        if header is None or not any(h.strip() for h in header):
            raise DataError(f"{path}: the file is empty (a header row is expected)")
        columns = [h.strip() for h in header]
        rows: list[Row] = []
        start = reader.line_num + 1
        for cells in reader:
            if not cells or all(not c.strip() for c in cells):
                start = reader.line_num + 1
                continue
            if len(cells) != len(columns):
                raise DataError(
                    f"{path} line {start}: expected {len(columns)} fields "
                    f"({', '.join(columns)}), found {len(cells)}"
                )
            rows.append(Row(start, dict(zip(columns, cells))))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DataError(f"{path} line {reader.line_num}: malformed {delimiter!r}-separated line: {exc}") from None
    return columns, rows


def read_jsonl(path: str | Path) -> tuple[list[str], list[Row]]:
    """Read one JSON object per line; returns (columns seen, rows)."""
    path = Path(path)
    rows: list[Row] = []
    columns: dict[str, None] = {}
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {number}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(value, dict):
            raise DataError(f"{path} line {number}: expected a JSON object, found {type(value).__name__}")
        columns.update(dict.fromkeys(value))
        rows.append(Row(number, value))
    return list(columns), rows


def read_json_value(path: str | Path) -> Any:
    """The value of a JSON file; invalid JSON is one line naming the file, line and column."""
    path = Path(path)
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path} line {exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise DataError(f"{path}: JSON nested too deeply") from None


def read_json_records(path: str | Path) -> list[Row]:
    """Read a JSON file holding a list of objects (``Row.line`` is the record's number, from 1)."""
    path = Path(path)
    value = read_json_value(path)
    if not isinstance(value, list):
        raise DataError(f"{path}: expected a JSON list of records, found {type(value).__name__}")
    for number, record in enumerate(value, start=1):
        if not isinstance(record, dict):
            raise DataError(f"{path} record {number}: expected a JSON object, found {type(record).__name__}")
    return [Row(number, record) for number, record in enumerate(value, start=1)]


def read_records(path: str | Path, fmt: str) -> list[Row]:
    """The records of a JSONL, JSON (a list), CSV or TSV file."""
    if fmt == "json":
        return read_json_records(path)
    if fmt == "jsonl":
        return read_jsonl(path)[1]
    return read_table(path, "," if fmt == "csv" else "\t")[1]


def read_conll(path: str | Path, require_tags: bool = True) -> list[Sentence]:
    """Read ``token TAG`` lines (extra middle columns ignored), blank line between sentences.

    ``-DOCSTART-`` lines are skipped. With ``require_tags=False`` a line may hold the token alone.
    """
    path = Path(path)
    sentences: list[Sentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    first = 0

    def flush() -> None:
        if tokens:
            sentences.append(Sentence(first, list(tokens), list(tags) if tags else None))
        tokens.clear()
        tags.clear()

    for number, line in enumerate(read_text(path).splitlines(), start=1):
        parts = line.split()
        if not parts:
            flush()
            continue
        if parts[0] == "-DOCSTART-":
            flush()
            continue
        if len(parts) < 2 and require_tags:
            raise DataError(f"{path} line {number}: expected 'token TAG', found {line.strip()!r}")
        if len(parts) >= 2:
            tag = parts[-1]
            if not _IOB_TAG.match(tag):
                raise DataError(
                    f"{path} line {number}: tag {tag!r} is not an IOB tag ('O', 'B-TYPE' or 'I-TYPE')"
                )
            if tokens and not tags:
                raise DataError(f"{path} line {number}: some tokens of this sentence have tags and some do not")
            tags.append(tag)
        elif tags:
            raise DataError(f"{path} line {number}: expected 'token TAG', found {line.strip()!r}")
        if not tokens:
            first = number
        tokens.append(parts[0])
    flush()
    return sentences


def looks_like_conll(path: str | Path, lines: int = 50) -> bool:
    """Whether a file's first non-blank lines are ``token ... TAG`` with IOB tags (a ``.txt`` CoNLL file)."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as handle:
            seen = [line.split() for _, line in zip(range(lines * 4), handle) if line.strip()][:lines]
    except OSError:
        return False
    seen = [parts for parts in seen if parts[0] != "-DOCSTART-"]
    return bool(seen) and all(len(parts) >= 2 and _IOB_TAG.match(parts[-1]) for parts in seen)


def data_format_of(path: str | Path, given: str | None = None) -> str | None:
    """``given``, else ``imagefolder`` for a folder, ``idx`` for an MNIST-style ``*-idx?-ubyte[.gz]`` file,
    the format the extension names, or ``conll`` for a ``.txt`` file that looks like it; None when it
    cannot tell."""
    path = Path(path)
    if given:
        return given
    if path.is_dir():
        return "imagefolder"
    if "idx" in path.name.lower() and path.name.lower().removesuffix(".gz").endswith("ubyte"):
        return "idx"
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in EXTENSION_FORMATS:
        return EXTENSION_FORMATS[suffix]
    return "conll" if suffix == ".txt" and looks_like_conll(path) else None
