"""Named-entity tagging: word-level IOB tags via sub-word alignment, entities with character spans.

Training labels go on the first sub-token of each word (the others get -100 and are
ignored by the loss); predictions are read from the same first sub-tokens, so each
word gets exactly one tag. Entity-level scores use seqeval (conlleval rules).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import DataError
from ..evaluation.metrics import entity_metrics
from . import TASKS
from .base import Starter, Task, batched_logits, softmax

_WORD = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]")
IGNORE = -100


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Split raw text into words and punctuation, with (start, end) character spans.

    Example:
        >>> split_words("Anna lives in New York.")[0]
        ['Anna', 'lives', 'in', 'New', 'York', '.']
    """
    matches = list(_WORD.finditer(text))
    return [m.group() for m in matches], [m.span() for m in matches]


def join_words(tokens: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """Join pre-split tokens with single spaces, returning the text and each token's span."""
    spans, position = [], 0
    for token in tokens:
        spans.append((position, position + len(token)))
        position += len(token) + 1
    return " ".join(tokens), spans


def example_words(example: dict[str, Any]) -> tuple[list[str], str, list[tuple[int, int]]]:
    """Words, text and word spans of an example: pre-split ``tokens`` joined by spaces, or ``text`` split."""
    if "tokens" in example:
        words = example["tokens"]
        text, spans = join_words(words)
        return words, text, spans
    words, spans = split_words(example["text"])
    return words, example["text"], spans


def word_tags_to_entities(words, spans, tags, scores, text) -> list[dict[str, Any]]:
    """Group IOB tags into entities with their text, type, character span and mean score."""
    from seqeval.metrics.sequence_labeling import get_entities

    entities = []
    for entity_type, first, last in get_entities(list(tags)):
        start, end = spans[first][0], spans[last][1]
        entities.append({
            "text": text[start:end],
            "type": entity_type,
            "start": start,
            "end": end,
            "score": round(float(np.mean(scores[first : last + 1])), 6),
        })
    return entities


def gold_entities(example: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The example's text (as the tagger rebuilds it) and its gold entities with character spans."""
    words, text, spans = example_words(example)
    tags = list(example.get("tags") or [])[: len(spans)]
    entities = word_tags_to_entities(words, spans, tags, [0.0] * len(tags), text)
    return text, [{k: v for k, v in entity.items() if k != "score"} for entity in entities]


class TokenClassification(Task):
    """Word-level IOB tagging (named entities)."""

    augmentable = True
    tags_words = True

    name = "token_classification"
    default_metric = "f1"
    trainer_metric_names = ("f1", "precision", "recall")
    auto_class = "AutoModelForTokenClassification"
    default_max_length = 256
    formats = ("conll",)
    plain_text_format = "conll"
    per_class_title = "Per entity type"
    peft_task_type = "TOKEN_CLS"

    def starter(self, profile) -> Starter | None:
        """CoNLL files: only this task reads them."""
        if profile.format not in self.formats:
            return None
        return Starter(fit=2.0, notes=[f"{profile.n_rows} tagged sentences ('token TAG' per line)"])

    def read_examples(self, path, fmt, columns, require_labels=True):
        """CoNLL sentences (``token TAG`` lines); unlabelled input may also be text rows, split into words."""
        from ..data.readers import read_conll

        if fmt != "conll":
            if require_labels:
                raise DataError(f"{path}: entity tagging reads CoNLL files ('token TAG' per line), not {fmt}")
            from ..data.examples import read_text_rows

            return read_text_rows(path, fmt, text_column=columns.text_column, require_labels=False)
        return [{"tokens": s.tokens, "tags": s.tags, "where": f"{path} line {s.line}"}
                for s in read_conll(path, require_tags=require_labels)]

    def demo_examples(self):
        """Two tagged sentences."""
        return [{"tokens": ["john", "lives", "in", "paris"], "tags": ["B-PER", "O", "O", "B-LOC"], "where": "demo"},
                {"tokens": ["mary", "works", "at", "google"], "tags": ["B-PER", "O", "O", "B-ORG"], "where": "demo"}]

    def labels_of(self, example):
        """The example's IOB tags."""
        return list(example.get("tags") or [])

    def label_space(self, train, columns, source):
        """'O' first, then B-/I- tags by entity type; every B- tag gets its I- partner."""
        seen = {tag for e in train for tag in self.labels_of(e)}
        entity_types = sorted({tag[2:] for tag in seen if tag != "O"})
        names = ["O"] + [f"{prefix}-{t}" for t in entity_types for prefix in ("B", "I") if f"{prefix}-{t}" in seen]
        return names + [f"I-{t}" for t in entity_types if f"I-{t}" not in names]

    def check_training_data(self, train, splits_carved, source):
        """Nothing beyond the CoNLL reader's checks (tags are validated as IOB there)."""

    def report_sections(self, metrics, examples, predictions):
        """Per-type table; with predictions, entity calibration and missed and spurious entities."""
        from ..evaluation import html_report as html

        sections = [("per-class", self.per_class_title, html.per_class_table(metrics))]
        if examples:
            pairs = [(*gold_entities(e), p) for e, p in zip(examples, predictions)]
            sections += [("calibration", "Calibration", html.entity_calibration(pairs)),
                         ("entities", "Missed and spurious entities", html.entity_errors(pairs))]
        return sections

    @staticmethod
    def _words(example: dict[str, Any]) -> list[str]:
        return example["tokens"] if "tokens" in example else split_words(example["text"])[0]

    def _features(self, examples, tokenizer, max_length, label_names=None) -> tuple[list[dict], list[list]]:
        """Tokenize word lists; return features and, per example, each word's first sub-token index."""
        words = [self._words(e) or ["."] for e in examples]
        encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_length)
        index = {n: i for i, n in enumerate(label_names)} if label_names else None
        features, firsts = [], []
        for row, example in enumerate(examples):
            word_ids = encoded.word_ids(row)
            first: dict[int, int] = {}
            for position, word in enumerate(word_ids):
                if word is not None and word not in first:
                    first[word] = position
            feature = {k: encoded[k][row] for k in encoded.keys()}
            if index is not None:
                labels = [IGNORE] * len(word_ids)
                for word, position in first.items():
                    labels[position] = index[example["tags"][word]]
                feature["labels"] = labels
            features.append(feature)
            firsts.append([first.get(w) for w in range(len(words[row]))])
        return features, firsts

    def encode(self, examples, tokenizer, label_names, max_length, with_labels=True):
        """Tokenize sentences and align word tags to first sub-tokens."""
        from datasets import Dataset

        features, _ = self._features(examples, tokenizer, max_length, label_names if with_labels else None)
        columns = {k: [f[k] for f in features] for k in features[0]}
        columns["length"] = [len(ids) for ids in columns["input_ids"]]
        return Dataset.from_dict(columns)

    def collator(self, tokenizer):
        """Pad inputs and labels (with -100) to the longest sequence of the batch."""
        from transformers import DataCollatorForTokenClassification

        pad = DataCollatorForTokenClassification(tokenizer)
        return lambda features: pad([{k: v for k, v in f.items() if k != "length"} for f in features])

    def trainer_metrics(self, label_names: list[str], threshold: float):
        """Entity-level F1 on Trainer's evaluation logits (ignoring -100 positions)."""
        from seqeval.metrics import f1_score, precision_score, recall_score

        def compute(eval_pred) -> dict[str, float]:
            logits, labels = eval_pred.predictions, eval_pred.label_ids
            if isinstance(logits, tuple):
                logits = logits[0]
            predicted = logits.argmax(-1)  # (examples, seq)
            gold_tags, pred_tags = [], []
            for gold_row, pred_row in zip(labels, predicted):
                keep = gold_row != IGNORE
                gold_tags.append([label_names[i] for i in gold_row[keep]])
                pred_tags.append([label_names[i] for i in pred_row[keep]])
            return {
                "f1": float(f1_score(gold_tags, pred_tags, zero_division=0)),
                "precision": float(precision_score(gold_tags, pred_tags, zero_division=0)),
                "recall": float(recall_score(gold_tags, pred_tags, zero_division=0)),
            }

        return compute

    def predict(self, model, tokenizer, examples, label_names, *, max_length, threshold=0.5, batch_size=64):
        """Tags per word and entities with character spans; words cut off by truncation get 'O'."""
        features, firsts = self._features(examples, tokenizer, max_length)
        logits = batched_logits(model, features, self.collator(tokenizer), batch_size)
        results = []
        for example, row_logits, first in zip(examples, logits, firsts):
            words, text, spans = example_words(example)
            probs = softmax(row_logits)  # (seq, labels)
            tags, scores = [], []
            for position in first[: len(words)]:
                if position is None:
                    tags.append("O")
                    scores.append(0.0)
                else:
                    best = int(probs[position].argmax())
                    tags.append(label_names[best])
                    scores.append(float(probs[position, best]))
            results.append({
                "tokens": list(words),
                "tags": tags,
                "entities": word_tags_to_entities(words, spans, tags, scores, text),
            })
        return results

    def score(self, examples, predictions, label_names, train_stats) -> dict[str, Any]:
        """Entity-level metrics of predicted tags against gold tags."""
        return entity_metrics([e["tags"] for e in examples], [p["tags"] for p in predictions])


TASKS.register("token_classification")(TokenClassification())
