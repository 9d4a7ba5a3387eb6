"""Relation classification: the relation between two marked entities of a sentence.

Data: sentences with entity markers (``The <e1>rain</e1> caused <e2>floods</e2>.``) in a CSV/TSV/JSONL
text column; JSONL rows with character spans (``text``, ``head: {start, end}``, ``tail: {start, end}``,
``label``), which get the markers inserted; or the SemEval-2010 Task 8 file itself (blocks of
``id<TAB>"sentence"``, the relation, a ``Comment:`` line; ``data.format: semeval``, which a ``.txt``
file means for this task). Every sentence must carry each marker once, entities not nested or
overlapping: anything else is one line naming the file and line.

The model is the "entity start" classifier (``tuneforge.models.entity_start``). Metrics are
classification's plus the official SemEval-2010 Task 8 score, ``official_macro_f1``: the macro F1
over the relations without their direction, a prediction counting only with the right direction,
``task.other_label`` (``Other``) left out.

Example:
    >>> tuneforge train configs/semeval2010.yaml
    >>> tuneforge predict runs/semeval2010/bundle --text "The <e1>rain</e1> caused <e2>floods</e2>."
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field

from ..errors import DataError
from . import TASKS
from .base import BuiltModel, Task, TaskOptions, label_list_problem
from .classification import SequenceClassification

_SENTENCE = re.compile(r'^\s*(\d+)\t"(.*)"\s*$')
_DIRECTION = re.compile(r"\((e[12]),(e[12])\)$")


class RelationOptions(TaskOptions):
    """The ``task:`` section of relation classification."""

    other_label: str = Field("Other", description="the no-relation label, left out of the official macro F1")


def marked_text(text: str, where: str) -> str:
    """``text`` if it carries ``<e1>...</e1>`` and ``<e2>...</e2>`` once each, not nested or overlapping
    and not empty; else a ``DataError`` naming ``where``."""
    from ..models.entity_start import MARKERS

    if not isinstance(text, str):
        raise DataError(f"{where}: the sentence must be text, not {type(text).__name__}")
    counts = {m: text.count(m) for m in MARKERS}
    missing = [m for m, n in counts.items() if n == 0]
    if missing:
        raise DataError(f"{where}: missing entity marker(s) {' '.join(missing)}: mark the two entities as "
                        "<e1>...</e1> and <e2>...</e2>")
    repeated = next(((m, n) for m, n in counts.items() if n > 1), None)
    if repeated:
        raise DataError(f"{where}: {repeated[0]} appears {repeated[1]} times; each entity marker appears once")
    s1, e1, s2, e2 = (text.index(m) for m in MARKERS)
    if s1 > e1 or s2 > e2:
        raise DataError(f"{where}: a closing entity marker comes before its opening one")
    if not (e1 < s2 or e2 < s1):
        raise DataError(f"{where}: nested or overlapping entity markers: <e1>...</e1> and <e2>...</e2> must not "
                        "overlap")
    if not text[s1 + 4:e1].strip() or not text[s2 + 4:e2].strip():
        raise DataError(f"{where}: an entity between its markers is empty")
    return text


def insert_markers(text: str, head: Any, tail: Any, where: str) -> str:
    """``text`` with ``<e1>``/``</e1>`` around the ``head`` span and ``<e2>``/``</e2>`` around ``tail``
    (``{start, end}`` character offsets, end exclusive)."""
    spans = []
    for name, span in (("head", head), ("tail", tail)):
        if not isinstance(span, dict) or not all(isinstance(span.get(k), int) and not isinstance(span.get(k), bool)
                                                 for k in ("start", "end")):
            raise DataError(f"{where}: {name} must be {{\"start\": int, \"end\": int}}")
        if not 0 <= span["start"] < span["end"] <= len(text):
            raise DataError(f"{where}: {name} span {span['start']}..{span['end']} is not inside the text "
                            f"({len(text)} characters)")
        spans.append((span["start"], span["end"]))
    (a, b), (c, d) = spans
    if not (b <= c or d <= a):
        raise DataError(f"{where}: nested or overlapping entity spans: head {a}..{b}, tail {c}..{d}")
    pieces = sorted([(a, "<e1>"), (b, "</e1>"), (c, "<e2>"), (d, "</e2>")], key=lambda p: (p[0], p[1][1] != "/"))
    out, last = [], 0
    for position, marker in pieces:
        out += [text[last:position], marker]
        last = position
    return "".join(out + [text[last:]])


def read_semeval(path: Path, require_labels: bool, label) -> list[dict[str, Any]]:
    """The SemEval-2010 Task 8 format: ``id<TAB>"sentence"``, then the relation (absent in an unlabelled
    test file), a ``Comment:`` line, a blank line."""
    from ..data.readers import read_text

    lines = read_text(path).splitlines()
    examples, i = [], 0
    while i < len(lines):
        match = _SENTENCE.match(lines[i])
        if not match:
            if lines[i].strip() and not lines[i].lstrip().startswith("Comment:"):
                raise DataError(f"{path} line {i + 1}: expected id<TAB>\"sentence\" (the SemEval-2010 Task 8 "
                                f"format), found {lines[i][:60]!r}")
            i += 1
            continue
        where = f"{path} line {i + 1}"
        example = {"text": marked_text(match.group(2), where), "text_pair": None, "where": where}
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        i += 1
        if following and not _SENTENCE.match(lines[i]) and not following.startswith("Comment:"):
            if require_labels:
                example["label"] = label(following, where)
            i += 1
        elif require_labels:
            raise DataError(f"{where}: no relation on the line after the sentence")
        examples.append(example)
    if not examples:
        raise DataError(f"{path}: no sentences in the SemEval-2010 Task 8 format")
    return examples


def official_scores(gold: list[str], predicted: list[str], other: str) -> dict[str, Any]:
    """The official SemEval-2010 Task 8 score: per relation (direction dropped), precision over the
    predictions of that relation and recall over its gold examples, where only a prediction with the
    right direction is correct; the macro F1 over relations, ``other`` excluded."""
    def base(label: str) -> str:
        return _DIRECTION.sub("", label)

    relations = sorted({base(g) for g in gold} - {other})
    per_relation, f1s = {}, []
    for relation in relations:
        correct = sum(g == p and base(g) == relation for g, p in zip(gold, predicted))
        guessed = sum(base(p) == relation for p in predicted)
        actual = sum(base(g) == relation for g in gold)
        precision = correct / guessed if guessed else 0.0
        recall = correct / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_relation[relation] = {"precision": precision, "recall": recall, "f1": f1, "support": actual}
        f1s.append(f1)
    return {"official_macro_f1": sum(f1s) / len(f1s) if f1s else 0.0, "official_per_relation": per_relation}


class RelationClassification(SequenceClassification):
    """The relation between the two marked entities of each sentence."""

    logit_kind = None  # its own entity-start model
    augmentable = False  # token operations could break the entity markers

    name = "relation_classification"
    Options = RelationOptions
    formats = ("csv", "tsv", "jsonl", "semeval")
    plain_text_format = "semeval"
    default_metric = "official_macro_f1"
    trainer_metric_names = ("accuracy", "macro_f1", "official_macro_f1")
    auto_class = ""
    peft_task_type = ""  # not a transformers task model: peft wraps it plainly, its head trains whole
    per_class_title = "Per relation (with direction)"

    @property
    def settings(self) -> RelationOptions:
        """The ``task:`` options this instance works with (the defaults when none were given)."""
        return self.options if isinstance(self.options, RelationOptions) else RelationOptions(type=self.name)

    def demo_examples(self):
        """Two sentences of each of two relations."""
        return [{"text": t, "text_pair": None, "label": label, "where": "demo"} for t, label in (
            ("The <e1>rain</e1> caused <e2>floods</e2>.", "Cause-Effect(e1,e2)"),
            ("The <e1>fire</e1> came from a <e2>spark</e2>.", "Cause-Effect(e2,e1)"),
            ("The <e1>wheel</e1> of the <e2>car</e2> was new.", "Component-Whole(e1,e2)"),
            ("A <e1>car</e1> has four <e2>wheels</e2>.", "Component-Whole(e2,e1)"))]

    def workload_examples(self):
        """The demo inputs (what ``--backend auto`` times the runtimes on)."""
        return self.demo_examples()

    def warm_up_examples(self, pairs: bool) -> list[dict[str, Any]]:
        """A marked sentence (the server's first inference and health check)."""
        return [{"text": self.demo_examples()[0]["text"], "text_pair": None}]

    # -- data ------------------------------------------------------------------------------------

    def read_examples(self, path, fmt, columns, require_labels=True):
        """Marked sentences (or spans, which get markers) with their relation labels."""
        from ..data.examples import label_value
        from ..data.readers import read_records

        path = Path(path)
        if fmt not in self.formats:
            raise DataError(f"{path}: task {self.name} reads {', '.join(self.formats)} files, not {fmt}")

        def label(value, where):
            return label_value(value, where, columns.label_column, columns.label_names)

        if fmt == "semeval":
            return read_semeval(path, require_labels, label)
        if fmt == "jsonl":
            rows = read_records(path, fmt)
            if rows and "head" in rows[0].values and "tail" in rows[0].values:
                examples = []
                for row in rows:
                    where, values = f"{path} line {row.line}", row.values
                    text = values.get(columns.text_column)
                    if not isinstance(text, str) or not text.strip():
                        raise DataError(f"{where}: missing text in column {columns.text_column!r}")
                    example = {"text": insert_markers(text, values.get("head"), values.get("tail"), where),
                               "text_pair": None, "where": where}
                    if require_labels:
                        example["label"] = label(values.get(columns.label_column), where)
                    examples.append(example)
                return examples
        examples = super().read_examples(path, fmt, columns, require_labels)
        for example in examples:
            marked_text(example["text"], example["where"])
        return examples

    def check_training_data(self, train, splits_carved: int, source: str) -> None:
        """The shared warnings only: a direction seen once (SemEval has one) stays in training."""
        Task.check_training_data(self, train, splits_carved, source)

    # -- model -----------------------------------------------------------------------------------

    def prepare_tokenizer(self, tokenizer) -> None:
        """Add the entity markers as special tokens (the bundle's tokenizer keeps them)."""
        from ..models.entity_start import add_markers

        add_markers(tokenizer)

    def build_model(self, model_path, label_names) -> BuiltModel:
        """The backbone's encoder with marker embeddings and a fresh entity-start classifier."""
        from ..model_files import load_tokenizer
        from ..models.entity_start import EntityStartClassifier, add_markers

        tokenizer = load_tokenizer(model_path)
        add_markers(tokenizer)
        model = EntityStartClassifier.from_backbone(model_path, tokenizer, label_names)
        return BuiltModel(model, ["classifier.weight", "classifier.bias"])

    def load_trained(self, model_dir):
        """A trained relation model from a bundle (safetensors, every tensor checked)."""
        from ..errors import BundleError
        from ..models.entity_start import EntityStartClassifier

        return EntityStartClassifier.from_pretrained(model_dir, BundleError)

    def model_config_problem(self, config, label_names):
        """The saved model must be the entity-start classifier for exactly these labels."""
        from ..models.entity_start import ARCHITECTURE

        if ARCHITECTURE not in (config.get("architectures") or []):
            return f"task {self.name} needs an {ARCHITECTURE} model, config.json has {config.get('architectures')}"
        return label_list_problem(config, label_names)

    def model_options(self) -> dict[str, Any]:
        """No transformers config options: the head is this task's own."""
        return {}

    # -- metrics ---------------------------------------------------------------------------------

    def trainer_metrics(self, label_names: list[str], threshold: float):
        """Accuracy, macro F1 and the official score on Trainer's evaluation logits."""
        plain = super().trainer_metrics(label_names, threshold)
        other = self.settings.other_label

        def compute(eval_pred) -> dict[str, float]:
            metrics = plain(eval_pred)
            logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
            gold = [label_names[i] for i in eval_pred.label_ids]
            predicted = [label_names[i] for i in logits.argmax(-1)]
            metrics["official_macro_f1"] = official_scores(gold, predicted, other)["official_macro_f1"]
            return {k: metrics[k] for k in self.trainer_metric_names}

        return compute

    def predict(self, model, tokenizer, examples, label_names, *, max_length, threshold=0.5, batch_size=64):
        """Label and scores per sentence; a sentence without proper markers is refused first."""
        for example in examples:
            marked_text(example.get("text"), example.get("where") or "input")
        return super().predict(model, tokenizer, examples, label_names, max_length=max_length,
                               threshold=threshold, batch_size=batch_size)

    def markdown_sections(self, metrics):
        """Classification's tables plus the official score per relation (direction dropped)."""
        rows = metrics.get("official_per_relation") or {}
        table = ["## Official score per relation (SemEval-2010 Task 8)", "",
                 "| relation | precision | recall | F1 | examples |", "|---|---:|---:|---:|---:|"]
        table += [f"| {name} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |"
                  for name, r in rows.items()]
        return super().markdown_sections(metrics) + (["\n".join(table) + "\n"] if rows else [])

    def score(self, examples, predictions, label_names, train_stats) -> dict[str, Any]:
        """Classification's metrics plus the official SemEval-2010 Task 8 score."""
        metrics = super().score(examples, predictions, label_names, train_stats)
        gold, predicted = [e["label"] for e in examples], [p["label"] for p in predictions]
        metrics.update(official_scores(gold, predicted, self.settings.other_label))
        baseline = metrics.get("baseline")
        if baseline is not None:  # always the majority relation: its official score
            counts = train_stats.get("label_counts") or {}
            top = max(label_names, key=lambda n: counts.get(n, 0))
            baseline["official_macro_f1"] = official_scores(gold, [top] * len(gold),
                                                            self.settings.other_label)["official_macro_f1"]
        return metrics


TASKS.register("relation_classification")(RelationClassification())
