"""Duplicates within a split and copies across splits (train/test leakage): exact after normalisation
(case, punctuation, spacing and Unicode forms aside), and near duplicates by MinHash LSH over character
5-grams (``datasketch``).

Example:
    >>> found = find_duplicates({"train": ["A good film.", "a GOOD film"], "test": ["a good film!"]})
    >>> found.leaked["test"]
    [{'index': 0, 'train_index': 0, 'kind': 'exact', 'similarity': 1.0}]
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

NEAR_THRESHOLD = 0.75  # Jaccard similarity of the character 5-gram sets (computed exactly for candidates)
LSH_THRESHOLD = 0.6  # what MinHash LSH proposes as candidates (lower: fewer misses, more pairs to verify)
NUM_PERM = 64
SHINGLE = 5


def normalised(text: str) -> str:
    """``text`` compared as people read it: NFKC, case-folded, punctuation and symbols as spaces,
    runs of spaces as one."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in text)
    return " ".join(text.split())


def example_text(example: dict[str, Any]) -> str | None:
    """The text of an example of any text task (None for images): tokens joined, a conversation's
    turns, a question with its passage, or text and its pair."""
    if "tokens" in example:
        return " ".join(example["tokens"])
    if "messages" in example:
        return "\n".join(m.get("content", "") for m in example["messages"])
    if "question" in example:
        return f"{example['question']}\n{example.get('context', '')}"
    if "path" in example and "text" not in example:
        return None
    text = example.get("text")
    if not isinstance(text, str):
        return None
    pair = example.get("text_pair")
    return f"{text}\n{pair}" if pair else text


@dataclass
class Duplicates:
    """What was found: groups of duplicates within each split (indexes into it, first one kept), and for
    each evaluation split the examples that also appear in training."""

    within: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    leaked: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def removable(self, split: str) -> list[int]:
        """Indexes in ``split`` that a clean copy drops: every duplicate but the first of its group, and in
        an evaluation split every example that also appears in training."""
        drop = {i for group in self.within.get(split, []) for i in group["indexes"][1:]}
        drop |= {item["index"] for item in self.leaked.get(split, [])}
        return sorted(drop)


def _shingles(text: str) -> set[bytes]:
    padded = f" {text} "
    if len(padded) <= SHINGLE:
        return {padded.encode("utf-8")}
    return {padded[i:i + SHINGLE].encode("utf-8") for i in range(len(padded) - SHINGLE + 1)}


def _minhashes(shingles: list[set[bytes]]):
    from datasketch import MinHash

    return MinHash.bulk(shingles, num_perm=NUM_PERM)


def find_duplicates(splits: dict[str, list[str | None]], near: bool = True,
                    threshold: float = NEAR_THRESHOLD, progress: bool = False) -> Duplicates:
    """Exact (normalised) and, with ``near``, MinHash-LSH near duplicates within each split, and copies of
    training examples in the other splits. ``splits`` maps a split name to its texts (None: not text)."""
    found = Duplicates()
    keys = {name: [normalised(t) if t is not None else None for t in texts] for name, texts in splits.items()}
    first_in_train: dict[str, int] = {}
    for i, key in enumerate(keys.get("train", [])):
        if key is not None:
            first_in_train.setdefault(key, i)
    for name, split_keys in keys.items():
        groups: dict[str, list[int]] = {}
        for i, key in enumerate(split_keys):
            if key is not None:
                groups.setdefault(key, []).append(i)
        found.within[name] = [{"indexes": idx, "kind": "exact", "similarity": 1.0}
                              for idx in groups.values() if len(idx) > 1]
        if name != "train":
            found.leaked[name] = [{"index": i, "train_index": first_in_train[key], "kind": "exact", "similarity": 1.0}
                                  for i, key in enumerate(split_keys) if key is not None and key in first_in_train]
    if near:
        _add_near_duplicates(found, keys, threshold, progress)
    return found


def _add_near_duplicates(found: Duplicates, keys: dict[str, list[str | None]], threshold: float,
                         progress: bool = False) -> None:
    """Near duplicates: MinHash LSH proposes pairs, kept when the Jaccard similarity of their 5-gram sets
    reaches ``threshold`` and they are not already exact duplicates."""
    from ..errors import ConfigError

    try:
        from datasketch import MinHashLSH
    except ImportError:
        raise ConfigError("near-duplicate search needs datasketch: pip install 'tuneforge[data]'") from None
    entries = [(name, i, key) for name, split_keys in keys.items() for i, key in enumerate(split_keys) if key]
    if not entries:
        return
    shingles = [_shingles(key) for _, _, key in entries]
    hashes = _minhashes(shingles)
    lsh = MinHashLSH(threshold=min(LSH_THRESHOLD, threshold), num_perm=NUM_PERM)
    # only one entry per distinct normalised text goes into the index; its exact copies are already grouped
    representative: dict[str, int] = {}
    for n, (_, _, key) in enumerate(entries):
        if key not in representative:
            representative[key] = n
            lsh.insert(n, hashes[n])
    seen_pairs: set[tuple[int, int]] = set()
    within_near: dict[str, list[dict[str, Any]]] = {}
    leaked_near: dict[str, dict[int, dict[str, Any]]] = {}
    exact_leaks = {name: {item["index"] for item in items} for name, items in found.leaked.items()}
    from ..logs import progress_bar

    for n, (name, i, key) in enumerate(progress_bar(entries, "near duplicates", progress, minimum=5000)):
        if representative[key] != n:
            continue
        for m in lsh.query(hashes[n]):
            if m == n or (min(m, n), max(m, n)) in seen_pairs:
                continue
            seen_pairs.add((min(m, n), max(m, n)))
            similarity = len(shingles[n] & shingles[m]) / len(shingles[n] | shingles[m])
            if similarity < threshold:
                continue
            other_name, j, _ = entries[m]
            if other_name == name:
                within_near.setdefault(name, []).append(
                    {"indexes": sorted([i, j]), "kind": "near", "similarity": round(similarity, 3)})
            elif "train" in (name, other_name):
                (split, index, train_index) = (other_name, j, i) if name == "train" else (name, i, j)
                if index in exact_leaks.get(split, set()):
                    continue
                best = leaked_near.setdefault(split, {}).get(index)
                if best is None or similarity > best["similarity"]:
                    leaked_near[split][index] = {"index": index, "train_index": train_index, "kind": "near",
                                                 "similarity": round(similarity, 3)}
    for name, groups in within_near.items():
        found.within.setdefault(name, []).extend(groups)
    for name, items in leaked_near.items():
        found.leaked.setdefault(name, []).extend(sorted(items.values(), key=lambda item: item["index"]))
