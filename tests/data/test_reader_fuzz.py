"""Readers given arbitrary, type-confused content: a ``DataError`` naming the file, or examples a model
can take, never another exception (finding 9 of issue 12)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tuneforge.data.examples import read_plain_texts
from tuneforge.tasks import read_examples
from tuneforge.data.text import text_problem
from tuneforge.errors import DataError

FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])  # the same cases every run: CI cannot flake
TASKS = ["classification", "multilabel"]

# Hypothesis's text never holds surrogates; JSON escapes can (json.dumps writes them as \udXXX).
texts = st.lists(st.one_of(st.characters(), st.integers(0xD800, 0xDFFF).map(chr)), max_size=10).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**30, max_value=10**30) | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8)
labels = st.sampled_from(["a", "b", "0", "1", "NaN"]) | st.lists(st.sampled_from(["a", "b"]), max_size=3) | json_values
hostile_row = st.fixed_dictionaries({"text": texts | json_values, "label": labels},
                                    optional={"pair": texts | json_values, "x": json_values})
plain = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20).filter(str.strip)
good_row = st.fixed_dictionaries({"text": st.sampled_from(["a fine film", "dull", "ok then"]) | plain,
                                  "label": st.sampled_from(["a", "b"]), "pair": st.sampled_from(["yes", "no"])})
rows = st.lists(st.one_of(good_row, good_row, good_row, good_row, good_row, hostile_row), min_size=0, max_size=5)


READ: list[int] = []  # examples read by successful cases: the test must reach that branch


def check(path: Path, **options) -> None:
    try:
        examples = read_examples(path, **options)
    except DataError as exc:
        assert str(path) in str(exc)
        return
    assert examples
    READ.append(len(examples))
    for example in examples:
        for key in ("text", "text_pair"):
            value = example.get(key)
            assert value is None or (isinstance(value, str) and value.strip() and text_problem(value) is None)
        label = example.get("label")
        assert isinstance(label, (str, list))


FOLDER = tempfile.TemporaryDirectory(prefix="tuneforge-fuzz-")  # removed when the module is collected


def write(suffix: str, content: str | bytes) -> Path:
    """Write the case's file (one per suffix, overwritten by the next case)."""
    path = Path(FOLDER.name) / f"data{suffix}"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return path


@FUZZ
@given(rows=rows, task=st.sampled_from(TASKS), names=st.sampled_from([None, ["a", "b"], ["0", "1", "2"]]),
       pair=st.booleans())
def test_jsonl_rows_of_any_shape(rows, task, names, pair):
    path = write(".jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    check(path, task_type=task, label_names=names, text_pair_column="pair" if pair else None)


@FUZZ
@given(content=st.text(max_size=300), task=st.sampled_from(TASKS), suffix=st.sampled_from([".csv", ".tsv"]),
       delimiter=st.sampled_from([None, "|", ";"]))
def test_tables_of_any_text(content, task, suffix, delimiter):
    path = write(suffix, "text,label\n" + content if suffix == ".csv" else "text\tlabel\n" + content)
    check(path, task_type=task, label_delimiter=delimiter)


@FUZZ
@given(content=st.binary(max_size=300), suffix=st.sampled_from([".csv", ".tsv", ".jsonl", ".conll"]))
def test_any_bytes(content, suffix):
    path = write(suffix, content)
    check(path, task_type="token_classification" if suffix == ".conll" else "classification")


@FUZZ
@given(lines=st.lists(st.lists(st.text(max_size=8), max_size=4).map(" ".join), max_size=12),
       require=st.booleans())
def test_conll_of_any_tokens(lines, require):
    path = write(".conll", "\n".join(lines))
    try:
        examples = read_examples(path, task_type="token_classification", require_labels=require)
    except DataError as exc:
        assert str(path) in str(exc)
        return
    for example in examples:
        assert example["tokens"] and all(isinstance(t, str) and t for t in example["tokens"])


@pytest.mark.parametrize("content", ["", "\n\n", "ok\n\udc80\n".encode("utf-8", "surrogatepass"), b"\xff\xfe"])
def test_plain_texts(content):
    path = write(".txt", content)
    try:
        texts = read_plain_texts(path)
    except DataError as exc:
        assert str(path) in str(exc)
        return
    assert all(text_problem(t["text"]) is None for t in texts)


def test_the_fuzzing_reached_readable_files():
    assert len(READ) >= 20, "most fuzzed files failed to read: the strategies are too hostile to test the happy path"
