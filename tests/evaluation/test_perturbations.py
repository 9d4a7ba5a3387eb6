"""Seeded perturbations: the same seed gives the same noise, rates hold on average, labels and entity
tags stay aligned, and nothing is emptied."""

from __future__ import annotations

import random

import pytest

from tuneforge.evaluation.perturbations import (
    NEIGHBOURS,
    perturb_examples,
    perturb_text,
    typo,
)

SENTENCES = [{"text": "the quick brown fox jumps over the lazy dog , again and again !", "label": "a"}] * 200


def test_typos_are_keyboard_slips_of_one_letter():
    rng = random.Random(0)
    for _ in range(200):
        slipped = typo("keyboard", rng)
        assert slipped != "keyboard"
        if len(slipped) == len("keyboard"):
            diffs = [i for i, (a, b) in enumerate(zip(slipped, "keyboard")) if a != b]
            assert len(diffs) in (0, 1, 2)
            if len(diffs) == 1:
                assert slipped[diffs[0]] in NEIGHBOURS["keyboard"[diffs[0]]]
            if len(diffs) == 2:  # a swap of neighbouring letters
                assert diffs[1] == diffs[0] + 1 and slipped[diffs[0]] == "keyboard"[diffs[1]]
        else:
            assert len(slipped) == len("keyboard") - 1
    assert typo("a", rng) == "a" and typo("42", rng) == "42"
    assert "g" in NEIGHBOURS["f"] and "p" not in NEIGHBOURS["a"]


def test_same_seed_same_noise_and_the_rate_holds_on_average():
    first = perturb_examples(SENTENCES, "typos", 0.1, seed=3)
    assert first == perturb_examples(SENTENCES, "typos", 0.1, seed=3)
    assert first != perturb_examples(SENTENCES, "typos", 0.1, seed=4)
    words = SENTENCES[0]["text"].split()
    eligible = sum(sum(c.isalpha() for c in w) >= 2 for w in words)
    changed = sum(a != b for e in first for a, b in zip(e["text"].split(), words) if len(e["text"].split()) == len(words))
    assert changed / (eligible * len(SENTENCES)) == pytest.approx(0.1, abs=0.03)
    assert all(e["label"] == "a" for e in first)


def test_each_kind_changes_text_as_named():
    rng = random.Random(0)
    text = "Great film, really; loved it!"
    assert perturb_text(text, "punctuation", 1.0, rng) == "Great film really loved it"
    recased = perturb_text(text, "case", 1.0, rng)
    assert recased.lower() == text.lower()
    dropped = perturb_text("one two three four five six seven eight nine ten", "word_drop", 0.2, rng)
    assert len(dropped.split()) in (8, 9, 10) and set(dropped.split()) <= set("one two three four five six seven "
                                                                                 "eight nine ten".split())
    assert perturb_text("solo", "word_drop", 1.0, rng) == "solo"  # never emptied
    assert perturb_text("...", "punctuation", 1.0, rng) == "..."
    swapped = perturb_text("terrible movie", "synonym", 1.0, rng, synonyms=lambda w: {"terrible": ["awful"]}.get(w, []))
    assert swapped == "awful movie"
    pair = perturb_examples([{"text": "good, fine", "text_pair": "bad; awful", "label": "x"}], "punctuation", 1.0)[0]
    assert pair["text"] == "good fine" and pair["text_pair"] == "bad awful"


def test_entity_examples_keep_tags_aligned_and_mentions_intact():
    example = {"tokens": ["John", "Smith", "visited", "Paris", ",", "France", "yesterday", "."],
               "tags": ["B-PER", "I-PER", "O", "B-LOC", "O", "B-LOC", "O", "O"]}
    other = {"tokens": ["Mary", "went", "to", "Berlin"], "tags": ["B-PER", "O", "O", "B-LOC"]}
    for kind, rate in (("typos", 0.5), ("case", 1.0), ("punctuation", 1.0), ("word_drop", 0.5), ("entity_swap", 1.0)):
        for out in perturb_examples([example, other] * 5, kind, rate, seed=1):
            assert len(out["tokens"]) == len(out["tags"])
            assert out["tags"].count("B-PER") == 1
    dropped = perturb_examples([example], "word_drop", 1.0, seed=0)[0]
    assert dropped["tokens"][:2] == ["John", "Smith"] and "Paris" in dropped["tokens"]  # entities are kept
    no_punct = perturb_examples([example], "punctuation", 1.0)[0]
    assert "," not in no_punct["tokens"] and "." not in no_punct["tokens"]
    swapped = perturb_examples([example, other] * 20, "entity_swap", 1.0, seed=2)
    assert any(e["tokens"][0] == "Mary" for e in swapped[::2])  # a person replaced by another person
    with pytest.raises(ValueError, match="entity data only"):
        perturb_examples(SENTENCES[:1], "entity_swap", 1.0)
