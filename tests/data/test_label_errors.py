"""The label-error finder: cross-validated probabilities from backbone embeddings, ranked by cleanlab,
put deliberately flipped labels first."""

from __future__ import annotations

import random

import pytest

from tuneforge.backbone import resolve_backbone
from tuneforge.data.label_errors import cross_validated_probabilities, find_label_errors
from tuneforge.errors import DataError

pytest.importorskip("cleanlab")
GOOD = ["great", "wonderful", "lovely", "brilliant", "delightful", "superb", "excellent", "charming"]
BAD = ["awful", "terrible", "boring", "dreadful", "dull", "horrible", "painful", "lousy"]
THINGS = ["movie", "film", "story", "ending", "acting", "soundtrack", "plot", "cast"]


def _reviews(n: int, flips: int, seed: int = 0):
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        positive = i % 2 == 0
        word = rng.choice(GOOD if positive else BAD)
        text = f"the {rng.choice(THINGS)} was {word}, {rng.choice(['really', 'truly', 'just', 'so'])} {word}"
        examples.append({"text": text, "label": "positive" if positive else "negative", "where": f"line {i + 2}"})
    flipped = set(rng.sample(range(n), flips))
    for i in flipped:
        examples[i]["label"] = "negative" if examples[i]["label"] == "positive" else "positive"
    return examples, flipped


def test_flipped_labels_rank_first_and_are_flagged_with_the_right_suggestion():
    examples, flipped = _reviews(240, 12)
    result = find_label_errors(examples, resolve_backbone("default"), progress=False)
    top = result.ranked[:len(flipped)]
    assert sum(i in flipped for i in top) >= 11
    assert len(set(result.flagged) & flipped) >= 9 and len(result.flagged) <= 3 * len(flipped)
    suspects = result.suspects(examples, [e["text"] for e in examples], top=5)
    for row in suspects:
        assert row["index"] in flipped and row["suggested"] != row["given"]
        assert row["where"].startswith("line ")
    assert result.accuracy < 1.0 and result.seconds["embed"] >= 0


def test_text_pairs_and_too_small_classes():
    import numpy as np

    with pytest.raises(DataError, match="fewer than 2 examples"):
        cross_validated_probabilities(np.eye(4), ["a", "a", "a", "b"], ["a", "b"])
    with pytest.raises(DataError, match="single-label"):
        find_label_errors([{"text": "x", "label": ["a"]}, {"text": "y", "label": ["b"]}], "unused")
