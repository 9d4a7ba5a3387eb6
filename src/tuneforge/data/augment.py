"""Training-data augmentation: EDA's token operations (Wei & Zou 2019: synonym replacement, random
insertion, random swap, random deletion) with synonyms from the backbone's own embedding neighbourhood
(or a synonym file), and for entity data mention replacement with other mentions of the same type.

Augmented examples are only ever added to the training split; each carries ``augmented`` (the
operation) and a ``where`` naming the example it came from, so reports can tell them apart.

Example:
    >>> synonyms = EmbeddingSynonyms("path/to/backbone")
    >>> augment_examples(train, AugmentSettings(factor=2), synonyms, seed=0)[len(train)]["augmented"]
    'synonym'
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError

log = logging.getLogger(__name__)

TEXT_OPERATIONS = ("synonym", "insert", "swap", "delete")
ENTITY_OPERATIONS = ("synonym", "mention")
STOPWORDS = frozenset("""a an the and or but if of at by for with about against between into through during before
after above below to from up down in out on off over under again further then once here there when where why how all
any both each few more most other some such no nor not only own same so than too very can will just don should now i
me my we our you your he him his she her it its they them their what which who whom this that these those am is are
was were be been being have has had having do does did doing would could ought s t""".split())
NEIGHBOURS = 5
MIN_COSINE = 0.45


@dataclass
class AugmentSettings:
    """What ``data.augment`` asks for (the config section's values)."""

    factor: int = 1
    operations: list[str] = field(default_factory=lambda: list(TEXT_OPERATIONS))
    alpha: float = 0.1
    synonyms: str | None = None


class EmbeddingSynonyms:
    """Near neighbours of whole words in a backbone's input-embedding space: a synonym source that needs
    no WordNet download. Only alphabetic whole-word vocabulary entries of 3+ letters that are not stop
    words take part; variants of the same word (one a prefix of the other) are skipped."""

    def __init__(self, model_path: str) -> None:
        from ..model_files import load_tokenizer

        tokenizer = load_tokenizer(Path(model_path), ConfigError)
        weights = _input_embeddings(model_path)
        vocab = tokenizer.get_vocab()
        words = sorted((w, i) for w, i in vocab.items() if w.isalpha() and w.islower() and len(w) >= 3
                       and w not in STOPWORDS and i < len(weights))
        self.words = [w for w, _ in words]
        self.index = {w: n for n, w in enumerate(self.words)}
        matrix = weights[[i for _, i in words]].astype(np.float32)
        self.matrix = matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-8)
        self._cache: dict[str, list[str]] = {}

    def __call__(self, word: str) -> list[str]:
        """Up to ``NEIGHBOURS`` words close to ``word`` (lower case), nearest first; [] when it is unknown."""
        key = word.lower()
        if key in self._cache:
            return self._cache[key]
        n = self.index.get(key)
        found: list[str] = []
        if n is not None:
            scores = self.matrix @ self.matrix[n]
            for m in np.argsort(-scores)[1:60]:
                other = self.words[m]
                if scores[m] < MIN_COSINE or len(found) >= NEIGHBOURS:
                    break
                if other.startswith(key[:max(3, len(key) - 2)]) or key.startswith(other[:max(3, len(other) - 2)]):
                    continue
                found.append(other)
        self._cache[key] = found
        return found


def _input_embeddings(model_path: str) -> np.ndarray:
    """The word-embedding matrix of a backbone, read from its safetensors file (the model is not built)."""
    from safetensors import safe_open

    files = sorted(Path(model_path).glob("*.safetensors"))
    if not files:
        raise ConfigError(f"{model_path}: no safetensors weights to take synonyms from; give data.augment.synonyms")
    for path in files:
        with safe_open(str(path), framework="numpy") as handle:
            names = [k for k in handle.keys() if k.endswith(("word_embeddings.weight", "embed_tokens.weight", "wte.weight"))]
            if names:
                return handle.get_tensor(names[0])
    raise ConfigError(f"{model_path}: no word-embedding matrix found; give data.augment.synonyms")


class FileSynonyms:
    """Synonyms from a file: one word per line, then its synonyms (``word: a, b`` or ``word<TAB>a<TAB>b``)."""

    def __init__(self, path: str | Path) -> None:
        from .readers import read_text

        self.table: dict[str, list[str]] = {}
        for number, line in enumerate(read_text(path).splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            head, _, rest = line.partition(":") if ":" in line else line.partition("\t")
            synonyms = [s.strip() for s in rest.replace("\t", ",").split(",") if s.strip()]
            if not head.strip() or not synonyms:
                raise DataError(f"{path} line {number}: expected 'word: synonym, synonym'")
            self.table.setdefault(head.strip().lower(), []).extend(synonyms)

    def __call__(self, word: str) -> list[str]:
        """The synonyms listed for ``word`` (any case)."""
        return self.table.get(word.lower(), [])


def _match_case(original: str, replacement: str) -> str:
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _candidates(words: list[str], synonyms, allowed: list[bool] | None = None) -> list[int]:
    return [i for i, w in enumerate(words) if (allowed is None or allowed[i]) and w.lower() not in STOPWORDS
            and w.isalpha() and synonyms(w)]


def synonym_replacement(words: list[str], n: int, synonyms, rng: random.Random,
                        allowed: list[bool] | None = None) -> list[str]:
    """Replace up to ``n`` words (not stop words; where ``allowed``) with one of their synonyms."""
    out = list(words)
    positions = _candidates(words, synonyms, allowed)
    rng.shuffle(positions)
    for i in positions[:n]:
        out[i] = _match_case(words[i], rng.choice(synonyms(words[i])))
    return out


def random_insertion(words: list[str], n: int, synonyms, rng: random.Random) -> list[str]:
    """Insert a synonym of a random word at a random position, ``n`` times."""
    out = list(words)
    positions = _candidates(words, synonyms)
    for _ in range(n if positions else 0):
        out.insert(rng.randint(0, len(out)), rng.choice(synonyms(words[rng.choice(positions)])))
    return out


def random_swap(words: list[str], n: int, rng: random.Random) -> list[str]:
    """Swap two random words, ``n`` times."""
    out = list(words)
    for _ in range(n if len(out) > 1 else 0):
        i, j = rng.sample(range(len(out)), 2)
        out[i], out[j] = out[j], out[i]
    return out


def random_deletion(words: list[str], p: float, rng: random.Random) -> list[str]:
    """Drop each word with probability ``p`` (at least one word stays)."""
    if len(words) <= 1:
        return list(words)
    kept = [w for w in words if rng.random() >= p]
    return kept or [rng.choice(words)]


def augment_text(text: str, operation: str, alpha: float, synonyms, rng: random.Random) -> str:
    """One EDA variant of ``text`` by ``operation``."""
    words = text.split()
    n = max(1, round(alpha * len(words)))
    if operation == "synonym":
        words = synonym_replacement(words, n, synonyms, rng)
    elif operation == "insert":
        words = random_insertion(words, n, synonyms, rng)
    elif operation == "swap":
        words = random_swap(words, n, rng)
    elif operation == "delete":
        words = random_deletion(words, alpha, rng)
    return " ".join(words)


def _mentions(examples: list[dict[str, Any]]) -> dict[str, list[list[str]]]:
    from seqeval.metrics.sequence_labeling import get_entities

    pool: dict[str, list[list[str]]] = {}
    for e in examples:
        for entity_type, first, last in get_entities(list(e["tags"])):
            pool.setdefault(entity_type, []).append(e["tokens"][first:last + 1])
    return pool


def augment_entities(example: dict[str, Any], operation: str, alpha: float, synonyms, pool, rng: random.Random
                     ) -> dict[str, Any]:
    """An entity example with each mention swapped for another of its type (``mention``) or words outside
    entities replaced by synonyms (``synonym``); tags stay aligned."""
    from seqeval.metrics.sequence_labeling import get_entities

    tokens, tags = list(example["tokens"]), list(example["tags"])
    if operation == "synonym":
        n = max(1, round(alpha * len(tokens)))
        return {"tokens": synonym_replacement(tokens, n, synonyms, rng, [t == "O" for t in tags]), "tags": tags}
    new_tokens, new_tags, position = [], [], 0
    for entity_type, first, last in get_entities(tags):
        new_tokens += tokens[position:first]
        new_tags += tags[position:first]
        mention = rng.choice(pool.get(entity_type) or [tokens[first:last + 1]])
        new_tokens += mention
        new_tags += [f"B-{entity_type}"] + [f"I-{entity_type}"] * (len(mention) - 1)
        position = last + 1
    return {"tokens": new_tokens + tokens[position:], "tags": new_tags + tags[position:]}


def check_operations(operations: list[str], entity_data: bool) -> None:
    """Refuse operations the data cannot take (word order and counts must stay for tags to align)."""
    allowed = ENTITY_OPERATIONS if entity_data else TEXT_OPERATIONS
    wrong = [op for op in operations if op not in allowed]
    if wrong:
        kind = "entity" if entity_data else "text"
        raise ConfigError(f"data.augment.operations: {wrong[0]!r} does not apply to {kind} data; "
                          f"{kind} data takes {', '.join(allowed)}")


def augment_examples(examples: list[dict[str, Any]], settings: AugmentSettings, synonyms, seed: int = 0
                     ) -> list[dict[str, Any]]:
    """``examples`` followed by ``settings.factor`` augmented copies of each (the ones identical to their
    original are left out), each tagged with ``augmented`` and a ``where`` naming its original."""
    if not examples:
        return examples
    entity_data = "tokens" in examples[0]
    if not entity_data and not isinstance(examples[0].get("text"), str):
        raise ConfigError("data.augment works on text classification, multi-label, regression, sentence-pair "
                          "and entity data")
    check_operations(settings.operations, entity_data)
    rng = random.Random(seed)
    pool = _mentions(examples) if entity_data else None
    added, counts = [], Counter()
    for example in examples:
        seen = {tuple(example["tokens"]) if entity_data else example["text"]}
        for _ in range(settings.factor):
            operation = rng.choice(settings.operations)
            if entity_data:
                changed = augment_entities(example, operation, settings.alpha, synonyms, pool, rng)
                key = tuple(changed["tokens"])
            else:
                text = augment_text(example["text"], operation, settings.alpha, synonyms, rng)
                changed, key = {"text": text}, text
            if key in seen:
                continue
            seen.add(key)
            added.append({**example, **changed, "augmented": operation,
                          "where": f"{example.get('where', 'example')} (augmented: {operation})"})
            counts[operation] += 1
    log.info("data.augment: %d augmented training examples from %d (%s)", len(added), len(examples),
             ", ".join(f"{op} {n}" for op, n in sorted(counts.items())))
    return examples + added


def synonym_source(settings: AugmentSettings, model_path: str):
    """The synonym file when one is given, else the backbone's embedding neighbours."""
    if settings.synonyms:
        return FileSynonyms(settings.synonyms)
    if not {"synonym", "insert"} & set(settings.operations):
        return lambda word: []
    return EmbeddingSynonyms(model_path)
