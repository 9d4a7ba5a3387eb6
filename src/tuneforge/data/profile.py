"""A quick look at a data file before any config exists: its format, columns and a sample of its rows,
with the guesses ``tuneforge init`` needs (which column is the text, which the label). Each task reads
a profile and says whether the data fits it (``Task.starter``).

Example:
    >>> profile = profile_file("examples/support_tickets.csv")
    >>> profile.format, profile.n_rows, profile.text_column(), profile.label_column()
    ('csv', 360, 'text', 'label')
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import DataError
from .readers import data_format_of, read_conll, read_records

SAMPLE = 2000  # rows looked at
TEXT_NAMES = ("text", "sentence", "review", "content", "body", "comment", "message", "utterance", "document",
              "tweet", "description", "query", "title")
LABEL_NAMES = ("label", "labels", "sentiment", "category", "class", "target", "intent", "topic", "tag", "tags",
               "emotion", "score", "rating", "stars", "y")
PAIR_NAMES = (("sentence1", "sentence2"), ("text_a", "text_b"), ("premise", "hypothesis"),
              ("question1", "question2"), ("text1", "text2"), ("sentence_a", "sentence_b"), ("query", "passage"))
LABEL_DELIMITERS = ("|", ";")
MISSING = {"", "nan", "null", "none", "na", "n/a"}


MAX_COLUMNS = 10_000


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and value.strip().lower() in MISSING)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


@dataclass
class DataProfile:
    """What a data file looks like: format, columns (in file order), a sample of rows, the row count."""

    path: Path
    format: str
    columns: list[str]
    rows: list[dict[str, Any]]
    n_rows: int
    notes: list[str] = field(default_factory=list)

    def values(self, column: str) -> list[Any]:
        """The present (non-missing) values of ``column`` in the sample."""
        return [row[column] for row in self.rows if column in row and _present(row[column])]

    def is_text(self, column: str) -> bool:
        """Mostly strings that do not read as numbers."""
        values = self.values(column)
        texts = [v for v in values if isinstance(v, str) and _number(v) is None]
        return bool(values) and len(texts) >= 0.9 * len(values)

    def mean_length(self, column: str) -> float:
        """Mean length in characters of the string values of ``column``."""
        texts = [v for v in self.values(column) if isinstance(v, str)]
        return sum(map(len, texts)) / len(texts) if texts else 0.0

    def numbers(self, column: str) -> list[float] | None:
        """The values of ``column`` as numbers, or None when some are not numbers."""
        values = [_number(v) for v in self.values(column)]
        return values if values and all(v is not None for v in values) else None

    def distinct(self, column: str) -> int:
        """How many different values ``column`` holds in the sample."""
        return len({json.dumps(v, sort_keys=True) if isinstance(v, (list, dict)) else str(v).strip()
                    for v in self.values(column)})

    def _named(self, names) -> str | None:
        lower = {c.lower(): c for c in self.columns}
        return next((lower[n] for n in names if n in lower), None)

    def text_column(self) -> str | None:
        """The column holding the text: a usual name, else the text column with the longest values."""
        named = self._named(TEXT_NAMES)
        if named and self.is_text(named):
            return named
        texts = [c for c in self.columns if self.is_text(c)]
        return max(texts, key=self.mean_length) if texts else None

    def pair_columns(self) -> tuple[str, str] | None:
        """Two text columns that form sentence pairs (``sentence1``/``sentence2``, ``premise``/``hypothesis``...)."""
        lower = {c.lower(): c for c in self.columns}
        for first, second in PAIR_NAMES:
            if first in lower and second in lower and self.is_text(lower[first]) and self.is_text(lower[second]):
                return lower[first], lower[second]
        return None

    def label_column(self, exclude: tuple[str, ...] = ()) -> str | None:
        """The label column: a usual name, else the last column with few distinct values."""
        named = self._named(LABEL_NAMES)
        if named and named not in exclude:
            return named
        candidates = [c for c in self.columns if c not in exclude and self.values(c)
                      and self.distinct(c) <= max(2, min(50, len(self.values(c)) // 2))]
        return candidates[-1] if candidates else None

    def text_pair_label(self) -> tuple[str | None, str | None, str | None]:
        """(text column, second text column of a pair or None, label column): what text tasks read."""
        pair = self.pair_columns()
        text = pair[0] if pair else self.text_column()
        label = self.label_column(exclude=(text, *(pair or ()))) if text else None
        return text, pair[1] if pair else None, label

    def label_lists(self, column: str) -> str | None:
        """How ``column`` holds several labels per row: ``"list"`` (JSON lists), a delimiter such as ``"|"``
        (delimited strings, a handful of distinct parts), or None (one label per row)."""
        values = self.values(column)
        if values and all(isinstance(v, list) for v in values):
            return "list"
        texts = [v for v in values if isinstance(v, str)]
        if not texts or len(texts) < len(values):
            return None
        for delimiter in LABEL_DELIMITERS:
            split = [[p.strip() for p in v.split(delimiter) if p.strip()] for v in texts]
            parts = {p for row in split for p in row}
            if sum(len(row) > 1 for row in split) >= max(1, 0.05 * len(texts)) and len(parts) <= 100:
                return delimiter
        return None


def profile_file(path: str | Path, data_format: str | None = None, sample: int = SAMPLE) -> DataProfile:
    """Read ``path`` (format from ``data_format`` or its extension/content) into a ``DataProfile``."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path.absolute()}: file not found")
    fmt = data_format_of(path, data_format)
    if fmt == "imagefolder":  # class sub-folders of images
        from .readers import IMAGE_SUFFIXES

        images = [p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
        return DataProfile(path, fmt, [], [], len(images))
    if fmt == "idx":
        from ..vision.images import read_idx

        return DataProfile(path, fmt, [], [], len(read_idx(path)))
    if fmt is None:
        raise DataError(f"{path}: cannot tell the format from the extension {path.suffix!r}; "
                        "give --format csv, tsv, jsonl, json or conll")
    if fmt == "conll":
        sentences = read_conll(path)
        return DataProfile(path, fmt, [], [], len(sentences))
    records = read_records(path, fmt)
    if not records:
        raise DataError(f"{path}: no rows")
    columns: dict[str, None] = {}  # ordered, and a set's lookups (a list's made wide files quadratic)
    for record in records[:sample]:
        columns.update(dict.fromkeys(record.values))
        if len(columns) > MAX_COLUMNS:
            raise DataError(f"{path}: more than {MAX_COLUMNS:,} columns; a data file holds a text, a label and a "
                            "few more")
    return DataProfile(path, fmt, list(columns), [r.values for r in records[:sample]], len(records))
