"""Seeded input perturbations for robustness evaluation: the noise real users add to text.

Text examples (``text``, and ``text_pair`` when there is one) and entity examples (``tokens`` with
``tags``, kept aligned) take the same kinds:

- ``typos``: a share of words gets one keyboard slip each: a letter replaced by a keyboard neighbour,
  a letter dropped, or two neighbouring letters swapped;
- ``case``: every word in a random case (lower, UPPER or Title);
- ``punctuation``: punctuation removed (entity data: punctuation-only tokens outside entities dropped);
- ``word_drop``: a share of words dropped (entity data: only words outside entities);
- ``synonym``: a share of words replaced by a near neighbour in the model's embedding space
  (``tuneforge.data.augment.EmbeddingSynonyms``; entity data: only words outside entities);
- ``entity_swap`` (entity data only): every mention replaced by another mention of its type.

A "share" is applied with stochastic rounding, so 10% of a 5-word sentence changes 0 or 1 words with
the right expected rate. The same seed gives the same perturbed data.

Example:
    >>> perturb_examples(examples, "typos", 0.1, seed=0)[0]["text"]
    'a grwat movie'
"""

from __future__ import annotations

import random
import unicodedata
from typing import Any, Callable

KINDS = ("typos", "case", "punctuation", "word_drop", "synonym", "entity_swap")
ENTITY_ONLY = ("entity_swap",)
NEEDS_SYNONYMS = ("synonym",)
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def _keyboard_neighbours() -> dict[str, str]:
    where = {c: (r, i) for r, row in enumerate(_ROWS) for i, c in enumerate(row)}
    out = {}
    for c, (r, i) in where.items():
        near = [row[j] for rr, row in enumerate(_ROWS) if abs(rr - r) <= 1
                for j in range(i - 1, i + 2) if 0 <= j < len(row) and row[j] != c]
        out[c] = "".join(near)
    return out


NEIGHBOURS = _keyboard_neighbours()


def _is_punctuation(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def _count(n: int, rate: float, rng: random.Random) -> int:
    """``rate * n`` with stochastic rounding."""
    exact = rate * n
    whole = int(exact)
    return min(n, whole + (1 if rng.random() < exact - whole else 0))


def typo(word: str, rng: random.Random) -> str:
    """One keyboard slip in ``word`` (its letters only); words with fewer than two letters are kept."""
    letters = [i for i, c in enumerate(word) if c.isalpha()]
    if len(letters) < 2:
        return word
    operation = rng.choice(("neighbour", "drop", "swap"))
    i = rng.choice(letters)
    if operation == "neighbour" and word[i].lower() in NEIGHBOURS:
        new = rng.choice(NEIGHBOURS[word[i].lower()])
        return word[:i] + (new.upper() if word[i].isupper() else new) + word[i + 1:]
    if operation == "swap" and i + 1 < len(word) and word[i + 1].isalpha() and word[i + 1] != word[i]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    return word[:i] + word[i + 1:]


def _recase(word: str, rng: random.Random) -> str:
    return rng.choice((word.lower(), word.upper(), word[:1].upper() + word[1:].lower()))


def _strip_punctuation(word: str) -> str:
    return "".join(c for c in word if not _is_punctuation(c))


def perturb_words(words: list[str], kind: str, rate: float, rng: random.Random,
                  synonyms: Callable[[str], list[str]] | None = None, allowed: list[bool] | None = None) -> list[int]:
    """Perturb ``words`` in place and return the indexes to keep (``word_drop`` and ``punctuation`` remove
    words). ``allowed`` marks the words that may change (entity data: words outside entities)."""
    allowed = allowed or [True] * len(words)
    keep = list(range(len(words)))
    if kind == "typos":
        candidates = [i for i, w in enumerate(words) if allowed[i] and sum(c.isalpha() for c in w) >= 2]
        for i in rng.sample(candidates, _count(len(candidates), rate, rng)):
            words[i] = typo(words[i], rng)
    elif kind == "case":
        for i, w in enumerate(words):
            words[i] = _recase(w, rng)
    elif kind == "punctuation":
        for i, w in enumerate(words):
            stripped = _strip_punctuation(w)
            if stripped:
                words[i] = stripped
        keep = [i for i in keep if _strip_punctuation(words[i]) or not allowed[i]]
    elif kind == "word_drop":
        candidates = [i for i in keep if allowed[i]]
        dropped = set(rng.sample(candidates, min(_count(len(candidates), rate, rng), len(words) - 1)))
        keep = [i for i in keep if i not in dropped]
    elif kind == "synonym":
        from ..data.augment import STOPWORDS, _match_case

        candidates = [i for i, w in enumerate(words) if allowed[i] and w.isalpha() and w.lower() not in STOPWORDS
                      and synonyms and synonyms(w)]
        for i in rng.sample(candidates, _count(len(candidates), rate, rng)):
            words[i] = _match_case(words[i], rng.choice(synonyms(words[i])))
    else:
        raise ValueError(f"unknown perturbation {kind!r}; known: {', '.join(KINDS)}")
    return keep


def perturb_text(text: str, kind: str, rate: float, rng: random.Random, synonyms=None) -> str:
    """``text`` with one kind of noise (words split on white space)."""
    words = text.split()
    keep = perturb_words(words, kind, rate, rng, synonyms)
    return " ".join(words[i] for i in keep) or text


def _perturb_entity_example(example: dict[str, Any], kind: str, rate: float, rng: random.Random, synonyms, pool
                            ) -> dict[str, Any]:
    if kind == "entity_swap":
        from ..data.augment import augment_entities

        return {**example, **augment_entities(example, "mention", rate, synonyms, pool, rng)}
    tokens, tags = list(example["tokens"]), list(example["tags"])
    outside = [t == "O" for t in tags]
    keep = perturb_words(tokens, kind, rate, rng, synonyms, outside if kind != "typos" and kind != "case" else None)
    return {**example, "tokens": [tokens[i] for i in keep], "tags": [tags[i] for i in keep]}


def perturb_examples(examples: list[dict[str, Any]], kind: str, rate: float, seed: int = 0, synonyms=None
                     ) -> list[dict[str, Any]]:
    """Copies of ``examples`` with one kind of noise at ``rate`` (the share of words, where it applies);
    labels are kept (entity tags stay aligned with their words)."""
    rng = random.Random(f"{seed}:{kind}:{rate}")
    entity_data = bool(examples) and "tokens" in examples[0]
    if kind in ENTITY_ONLY and not entity_data:
        raise ValueError(f"{kind} applies to entity data only")
    if entity_data:
        from ..data.augment import _mentions

        pool = _mentions(examples) if kind == "entity_swap" else None
        return [_perturb_entity_example(e, kind, rate, rng, synonyms, pool) for e in examples]
    out = []
    for example in examples:
        changed = {"text": perturb_text(example["text"], kind, rate, rng, synonyms)}
        if isinstance(example.get("text_pair"), str):
            changed["text_pair"] = perturb_text(example["text_pair"], kind, rate, rng, synonyms)
        out.append({**example, **changed})
    return out
