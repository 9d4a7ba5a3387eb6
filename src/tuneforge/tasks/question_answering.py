"""Extractive question answering (SQuAD-style): the answer is a span of the given context.

Data: SQuAD JSON (v1.1, or v2.0 with ``task.allow_no_answer: true``), or flat CSV/TSV/JSONL rows with
``question``, ``context`` and ``answer_text`` + ``answer_start`` or an ``answers`` list
(``tuneforge.qa.squad_data``); every answer is checked against its context. Long contexts become
overlapping windows (``task.doc_stride``, ``model.max_length``); answers are searched over all windows
(``tuneforge.qa.windows``). Metrics are SQuAD's exact match and F1 (percent, the official
normalisation, best over the references) with breakdowns by question type and answer length.

Example:
    >>> tuneforge train configs/squad.yaml
    >>> api.predict("runs/squad/bundle", data="questions.jsonl")[0]
    {'answer': 'Denver Broncos', 'start': 177, 'end': 191, 'score': 0.93}
"""

from __future__ import annotations

import logging
from collections import defaultdict
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from ..errors import DataError
from . import TASKS
from .base import BuiltModel, TaskOptions, WithoutLabelList, batched_logits

log = logging.getLogger("tuneforge")
TOP_MISTAKES = 10


class QAOptions(TaskOptions):
    """The ``task:`` section of question answering."""

    doc_stride: int | None = Field(None, ge=8, description="tokens two windows of a long context share "
                                                           "(default: a third of model.max_length, 128 at 384)")
    max_answer_length: int = Field(30, ge=1, le=512, description="longest answer, in tokens")
    n_best: int = Field(20, ge=1, le=100, description="start and end candidates searched per window")
    allow_no_answer: bool = Field(False, description="questions may have no answer (SQuAD 2.0)")
    null_threshold: float = Field(0.0, description="how much the no-answer score must beat the best span by")


class QuestionAnswering(WithoutLabelList):
    """Answer each question with a span of its context."""

    name = "question_answering"
    Options = QAOptions
    formats = ("json", "jsonl", "csv", "tsv")
    default_metric = "f1"
    trainer_metric_names = ("span_exact",)
    default_max_length = 384
    auto_class = ""
    peft_task_type = ""  # the head is this task's own: peft wraps it plainly, the head trains whole
    per_class_title = "By question type"
    reads_text_pairs = True  # served as {"text": question, "text_pair": context}
    windows_long_inputs = True  # a context longer than max_length is read in overlapping windows, not cut

    @property
    def settings(self) -> QAOptions:
        """The ``task:`` options this instance works with (the defaults when none were given)."""
        return self.options if isinstance(self.options, QAOptions) else QAOptions(type=self.name)

    @property
    def checkpoint_metric(self) -> str:
        """Windows whose predicted start and end both hit the answer (F1 needs the whole search)."""
        return "span_exact"

    def demo_examples(self):
        """Four questions on two short contexts."""
        ann, tom = "Ann Lee won in 1998.", "Tom Ray used stone."
        rows = [("Who won?", ann, "Ann Lee"), ("When?", ann, "1998"), ("Who?", tom, "Tom Ray"), ("What?", tom, "stone")]
        return [{"question": q, "context": c, "answers": [{"text": a, "start": c.index(a)}], "id": str(i),
                 "text": q, "text_pair": None, "where": "demo"} for i, (q, c, a) in enumerate(rows)]

    def workload_examples(self):
        """The demo inputs (what ``--backend auto`` times the runtimes on)."""
        return self.demo_examples()

    def warm_up_examples(self, pairs: bool) -> list[dict[str, Any]]:
        """One question and its context (the server's first inference and health check)."""
        return [{"text": "Who did it?", "text_pair": "Ann did it."}]

    # -- data ------------------------------------------------------------------------------------

    def read_examples(self, path, fmt, columns, require_labels=True):
        """Questions, contexts and (with labels) their checked answers."""
        from ..qa.squad_data import is_squad_json, read_qa_rows, read_squad_json

        path = Path(path)
        if fmt not in self.formats:
            raise DataError(f"{path}: task {self.name} reads {', '.join(self.formats)} files, not {fmt}")
        allow = self.settings.allow_no_answer
        if fmt == "json" and is_squad_json(path):
            return read_squad_json(path, require_labels, allow)
        return read_qa_rows(path, fmt, require_labels, allow)

    def check_training_data(self, train, splits_carved, source):
        """Say how many questions have no answer (they teach the model to abstain)."""
        empty = sum(not e["answers"] for e in train)
        if empty:
            log.info("%s: %d of %d questions have no answer", source, empty, len(train))

    def train_stats(self, train):
        """How many questions, and how many without an answer."""
        return {"examples": len(train), "unanswerable": sum(not e["answers"] for e in train)}

    # -- model -----------------------------------------------------------------------------------

    def build_model(self, model_path, label_names) -> BuiltModel:
        """The backbone's encoder with a fresh start/end layer."""
        from ..models.span_extractor import SpanExtractor

        return BuiltModel(SpanExtractor.from_backbone(model_path), ["qa_outputs.weight", "qa_outputs.bias"])

    def load_trained(self, model_dir):
        """A trained question answering model from a bundle (safetensors, every tensor checked)."""
        from ..errors import BundleError
        from ..models.span_extractor import SpanExtractor

        return SpanExtractor.from_pretrained(model_dir, BundleError)

    def model_config_problem(self, config, label_names):
        """The saved model must be the span extractor."""
        from ..models.span_extractor import ARCHITECTURE

        if ARCHITECTURE not in (config.get("architectures") or []):
            return f"task {self.name} needs a {ARCHITECTURE} model, config.json has {config.get('architectures')}"
        return None

    def _windows(self, examples, tokenizer, max_length, with_labels):
        from ..qa.windows import encode_windows

        stride = self.settings.doc_stride or max(1, max_length // 3)
        return encode_windows(tokenizer, [_as_question(e) for e in examples], max_length, stride, with_labels)

    def encode(self, examples, tokenizer, label_names, max_length, with_labels=True):
        """Every window of every question, with the answer's token positions (``[0, 0]``: not in it)."""
        from datasets import Dataset

        features, _, _ = self._windows(examples, tokenizer, max_length, with_labels)
        features["length"] = [len(ids) for ids in features["input_ids"]]
        return Dataset.from_dict(features)

    def collator(self, tokenizer):
        """Pad each batch to its longest window; labels stay ``(batch, 2)``."""
        from transformers import DataCollatorWithPadding

        pad = DataCollatorWithPadding(tokenizer)
        return lambda features: pad([{k: v for k, v in f.items() if k != "length"} for f in features])

    def trainer_metrics(self, label_names, threshold):
        """The share of windows whose argmax start and end are the answer's (a quick proxy for F1)."""
        def compute(eval_pred) -> dict[str, float]:
            logits = eval_pred.predictions[0] if isinstance(eval_pred.predictions, tuple) else eval_pred.predictions
            labels = np.asarray(eval_pred.label_ids)
            hit = (logits[..., 0].argmax(-1) == labels[:, 0]) & (logits[..., 1].argmax(-1) == labels[:, 1])
            return {"span_exact": float(hit.mean()) if len(hit) else 0.0}

        return compute

    def predict(self, model, tokenizer, examples, label_names, *, max_length, threshold=0.5, batch_size=64):
        """The best answer of each question over all its windows: text, character start/end, score."""
        from ..qa.windows import best_answer

        questions = [_as_question(e) for e in examples]
        features, owners, offsets = self._windows(questions, tokenizer, max_length, False)
        rows = [dict(zip(features, values)) for values in zip(*features.values())]
        logits = batched_logits(model, rows, self.collator(tokenizer), batch_size) if rows else []
        windows: dict[int, list] = defaultdict(list)
        for owner, row, offset in zip(owners, logits, offsets):
            windows[owner].append((row, offset))
        s = self.settings
        return [best_answer(q["context"], windows[i], max_answer_length=s.max_answer_length, n_best=s.n_best,
                            allow_no_answer=s.allow_no_answer, null_threshold=s.null_threshold)
                for i, q in enumerate(questions)]

    def same_prediction(self, a, b):
        """The same answer span."""
        return (a.get("start"), a.get("end")) == (b.get("start"), b.get("end"))

    def score(self, examples, predictions, label_names, train_stats):
        """Exact match and F1 (percent), by question type and by answer length."""
        from ..qa.squad_metrics import squad_scores

        return squad_scores(examples, predictions)

    # -- reports ---------------------------------------------------------------------------------

    def markdown_sections(self, metrics):
        """Exact match and F1 by question type and by answer length."""
        parts = []
        for key, title in (("by_question_type", "By question type"), ("by_answer_length", "By answer length")):
            rows = metrics.get(key) or {}
            lines = [f"## {title}", "", "| group | questions | exact match | F1 |", "|---|---:|---:|---:|"]
            lines += [f"| {name} | {r['n']} | {r['exact_match']:.1f} | {r['f1']:.1f} |" for name, r in rows.items()]
            parts.append("\n".join(lines) + "\n")
        return parts

    def report_sections(self, metrics, examples, predictions):
        """The breakdown tables, and the most confident wrong answers with the passage highlighted."""
        tables = []
        for key, title in (("by_question_type", "By question type"), ("by_answer_length", "By answer length")):
            rows = "".join(f"<tr><td>{escape(name)}</td><td>{r['n']}</td><td>{r['exact_match']:.1f}</td>"
                           f"<td>{r['f1']:.1f}</td></tr>" for name, r in (metrics.get(key) or {}).items())
            tables.append((key.replace("_", "-"), title, f"<table><tr><th>group</th><th>questions</th><th>exact match"
                                                         f"</th><th>F1</th></tr>{rows}</table>" if rows else ""))
        if examples:
            tables.append(("mistakes", "Most confident wrong answers", _mistakes_html(examples, predictions)))
        return tables


def _as_question(example: dict[str, Any]) -> dict[str, Any]:
    """A question example from a read one, or from a request's ``text`` (question) + ``text_pair`` (context)."""
    if "question" in example:
        return example
    question, context = example.get("text"), example.get("text_pair")
    if not isinstance(question, str) or not question.strip() or not isinstance(context, str) or not context.strip():
        raise DataError(f"{example.get('where', 'input')}: question answering needs a question and a context")
    return {"question": question, "context": context, "answers": [], "where": example.get("where", "input")}


def _mistakes_html(examples, predictions) -> str:
    from ..qa.squad_metrics import exact_match

    wrong = [(p["score"], e, p) for e, p in zip(examples, predictions)
             if not exact_match(p["answer"], [a["text"] for a in e["answers"]])]
    items = []
    for score, example, prediction in sorted(wrong, key=lambda w: -w[0])[:TOP_MISTAKES]:
        context, marks = example["context"], []
        if prediction["start"] is not None:
            marks.append((prediction["start"], prediction["end"], "pred"))
        if example["answers"]:
            gold = example["answers"][0]
            marks.append((gold["start"], gold["start"] + len(gold["text"]), "gold"))
        html, last = [], 0
        for start, end, kind in sorted(marks):
            if start < last:
                continue
            html += [escape(context[last:start]), f'<mark class="{kind}">{escape(context[start:end])}</mark>']
            last = end
        html.append(escape(context[last:]))
        items.append(f"<li><b>{escape(example['question'])}</b> predicted {escape(prediction['answer'] or '(none)')!s} "
                     f"({score:.2f}), expected {escape(example['answers'][0]['text'] if example['answers'] else '(none)')}"
                     f"<br><small>{''.join(html)}</small></li>")
    return f"<ol>{''.join(items)}</ol>" if items else ""


TASKS.register("question_answering")(QuestionAnswering())
