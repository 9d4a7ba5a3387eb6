"""Duplicates and leakage: exact copies after normalisation, near copies by MinHash LSH, across splits."""

from __future__ import annotations

import random

import pytest

from tuneforge.data.duplicates import example_text, find_duplicates, normalised

from ..conftest import SHARED_DATA

pytest.importorskip("datasketch")


def _sst2_dev() -> list[str]:
    path = SHARED_DATA / "sst2" / "dev.tsv"
    if not path.exists():
        pytest.skip(f"{path} is not here")
    return [line.split("\t")[0] for line in path.read_text(encoding="utf-8").splitlines()[1:] if line.strip()]


def _disguise(text: str, how: int, rng: random.Random) -> str:
    """A copy of ``text`` as it leaks in practice: case changed, punctuation changed or dropped, extra
    spaces, or one word's letter dropped (a near copy)."""
    if how == 0:
        return text.upper()
    if how == 1:
        return text.capitalize().replace(" ,", ",").replace(" .", ".") + "!"
    if how == 2:
        return "  " + text.replace(" ", "   ") + " "
    if how == 3:
        return "".join(c for c in text if c.isalnum() or c.isspace())
    words = text.split()
    long = [i for i, w in enumerate(words) if len(w) > 4] or [0]
    i = rng.choice(long)
    words[i] = words[i][:-1]
    return " ".join(words)


def test_every_copied_training_row_in_the_test_set_is_reported():
    texts = _sst2_dev()
    rng = random.Random(7)
    train, rest = texts[:600], texts[600:]
    sources = rng.sample(range(len(train)), 50)
    copies = [_disguise(train[i], n % 5, rng) for n, i in enumerate(sources)]
    test = rest[:150] + copies
    rng.shuffle(test)
    found = find_duplicates({"train": train, "test": test})
    leaked = {item["index"]: item for item in found.leaked["test"]}
    for copy, source in zip(copies, sources):
        index = test.index(copy)
        assert index in leaked, (copy, train[source])
        assert normalised(train[leaked[index]["train_index"]]) == normalised(train[source])
    assert {item["kind"] for item in leaked.values()} == {"exact", "near"}
    genuine = [t for t in rest[:150] if normalised(t) not in {normalised(x) for x in train}]
    false_alarms = [test[i] for i in leaked if test[i] in genuine]
    assert len(false_alarms) <= 1, false_alarms


def test_duplicates_within_a_split_keep_the_first_and_near_ones_are_grouped():
    train = ["The parcel never arrived.", "the parcel never arrived", "A refund is on its way to you now",
             "A refund is on its way to you now!!", "Totally different words here", "A refund is on it's way to you now"]
    found = find_duplicates({"train": train})
    exact = [g for g in found.within["train"] if g["kind"] == "exact"]
    assert sorted(tuple(g["indexes"]) for g in exact) == [(0, 1), (2, 3)]
    near = [g for g in found.within["train"] if g["kind"] == "near"]
    assert any(5 in g["indexes"] for g in near)
    assert found.removable("train") == sorted({1, 3} | {max(g["indexes"]) for g in near})
    assert 4 not in found.removable("train")


def test_exact_search_alone_skips_near_copies():
    found = find_duplicates({"train": ["a long enough sentence about refunds"],
                             "test": ["a long enough sentence about refund"]}, near=False)
    assert found.leaked["test"] == []


def test_example_text_reads_every_text_task():
    assert example_text({"tokens": ["John", "lives"], "tags": ["B-PER", "O"]}) == "John lives"
    assert example_text({"text": "a", "text_pair": "b"}) == "a\nb"
    assert example_text({"question": "q?", "context": "c."}) == "q?\nc."
    assert example_text({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}) \
        == "hi\nyo"
    assert example_text({"path": "x.png", "label": "cat"}) is None
