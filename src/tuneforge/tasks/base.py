"""What every task provides, plus batched inference shared by all of them."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydantic import Field

from ..errors import DataError
from ..schema import StrictModel

log = logging.getLogger("tuneforge")
MISSING_LOOKING = {"nan", "null", "none", "na", "n/a", "nil", "undefined", "?", "-"}


@dataclass
class BuiltModel:
    """A model built for training, and the names of its parameters the checkpoint lacked (the head,
    sometimes a pooler): a bundle that stores only trained parameters must store these too, or a
    model rebuilt from the base would get other random values."""

    model: Any
    new_parameters: list[str] = field(default_factory=list)


@dataclass
class Starter:
    """How a task would train on a profiled data file (``tuneforge init``): how well the data fits it
    (the best fit wins), the ``data:`` and ``task:`` settings it needs, and notes for the config."""

    fit: float
    data: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    train: dict[str, Any] = field(default_factory=dict)  # settings the task needs whatever the data size says
    model: dict[str, Any] = field(default_factory=dict)


class TaskOptions(StrictModel):
    """The ``task:`` config section: ``type`` (a registered task) plus the task's own options."""

    type: str
    threshold: float = Field(0.5, gt=0, lt=1, description="score above which a label is predicted (multi-label)")


class Task:
    """Contract of a task. Subclasses live in one module each and register an instance; the rest of
    TuneForge asks the task and never names it.

    - ``Options``: the ``task:`` config section (``type`` plus the task's options);
    - data: ``formats`` it reads and ``plain_text_format`` (what a ``.txt`` file is), ``read_examples``
      (a file -> checked examples), ``label_space`` (label names, or target names for regression),
      ``check_training_data``, ``check_known_labels``, ``train_stats`` (what baselines need);
    - ``build_model``: a transformers model with a fresh head for ``label_names`` (a ``BuiltModel``);
    - ``encode``: checked examples -> a ``datasets.Dataset`` of model inputs (with ``length``);
    - ``collator``: pads a batch dynamically;
    - ``trainer_metrics``: a ``compute_metrics`` function for transformers' Trainer;
    - ``predict``: examples -> one prediction dict each;
    - ``score``: examples + predictions -> the metrics dict of the report (``train_stats``:
      ``{"examples": n, "label_counts": {...}}`` of the training data, for baselines);
    - reports: ``report_sections`` (HTML parts) and ``markdown_sections``; ``per_class_title``;
    - export: ``same_prediction`` (how the ONNX parity check compares two predictions), ``export_sample``
      and ``calibration_inputs`` (inputs that are not tokenized text), ``quantized_ops``;
    - ``peft_task_type``: peft's task type for the task's model (parameter-efficient methods ask it);
    - inputs: ``load_processor`` (training: the method's tokenizer, or an image processor) and
      ``load_inputs_processor`` (a bundle's), ``encode_training`` (the training split, maybe augmented),
      ``model_family`` (which methods can train it) and ``length_grouping``;
    - ``starter(profile)``: whether a profiled data file (``tuneforge.data.profile``) fits the task, and
      the settings a starter config needs (``tuneforge init``);
    - options: ``with_options`` gives the task working with a ``task:`` section (``self.options``);
      ``checkpoint_metric`` (validation metric for the best checkpoint), ``default_backbone``,
      ``prepare_tokenizer``, ``compares_with_base_model`` (the base model is evaluated as the baseline),
      ``training_facts``.
    """

    Options: type[TaskOptions] = TaskOptions
    formats: tuple[str, ...] = ("csv", "tsv", "jsonl")
    plain_text_format: str | None = None
    per_class_title: str = "Per class"
    lower_is_better: tuple[str, ...] = ()  # metrics where smaller is better (for the best checkpoint)
    peft_task_type: str = "SEQ_CLS"
    quantized_ops: tuple[str, ...] = ("MatMul", "Gemm")  # what static int8 quantizes in its ONNX graph
    dynamic_quantized_ops: tuple[str, ...] | None = None  # what dynamic int8 quantizes (None: ONNX Runtime's set)

    name: str = ""
    default_metric: str = ""
    trainer_metric_names: tuple[str, ...] = ()
    default_max_length: int = 128
    default_backbone: str = "default"  # what model.name "default" means for this task
    single_label: bool = False  # one of a set of labels per example (what few-shot methods need)
    generates_text: bool = False  # answers are generated text (``tuneforge generate``/``chat``, the OpenAI routes)
    reads_images: bool = False  # inputs are images (the text routes and text export refuse its bundles)
    reads_text_pairs: bool = False  # every input is two texts (question answering: question + context)
    windows_long_inputs: bool = False  # inputs over max_length are read in overlapping windows, not cut
    tags_words: bool = False  # predicts a tag per word (entities): explanations are per entity
    logit_kind: str | None = None  # what text_outputs rows are: "softmax"/"sigmoid" label logits, a "value"
    augmentable: bool = False  # data.augment's token operations keep its examples valid (plain text or tokens)
    model_family: str = "transformers"  # what kind of model it trains (methods declare the families they handle)
    length_grouping: bool = True  # batches grouped by input length (``train.group_by_length``) make sense
    compares_with_base_model: bool = False  # evaluate the untrained base model too (the report's baseline)

    auto_class: str = ""
    options: TaskOptions | None = None  # the ``task:`` section this instance works with (``with_options``)

    def with_options(self, options: TaskOptions | None) -> "Task":
        """This task working with ``options`` (a copy; the registered instance keeps its defaults)."""
        import copy

        task = copy.copy(self)
        task.options = options if options is not None else self.Options(type=self.name)
        return task

    def options_from(self, section: dict[str, Any]) -> "Task":
        """This task with the options a bundle's manifest recorded (older bundles: the defaults)."""
        known = {k: v for k, v in section.items() if k in self.Options.model_fields}
        return self.with_options(self.Options.model_validate({**known, "type": self.name}))

    @property
    def checkpoint_metric(self) -> str:
        """The validation metric that picks the best checkpoint (``eval.metric`` overrides it)."""
        return self.default_metric

    def load_processor(self, method, options, model_path):
        """What turns inputs into model inputs for training: the method's tokenizer by default."""
        return method.load_tokenizer(options, model_path)

    def load_inputs_processor(self, folder, error):
        """The tokenizer (or other inputs processor) a bundle saved in ``folder``."""
        from ..model_files import load_tokenizer

        return load_tokenizer(folder, error)

    def encode_training(self, examples, tokenizer, label_names, max_length, seed: int = 0):
        """The training split as model inputs: ``encode`` by default (a task may augment here)."""
        return self.encode(examples, tokenizer, label_names, max_length)

    def export_sample(self, tokenizer):
        """ONNX export's sample inputs: (input names, tensors, dynamic axes), or None for the tokenizer's
        text inputs (batch and sequence axes)."""
        return None

    def calibration_inputs(self, tokenizer, examples, limit: int):
        """Static int8's calibration batches (dicts of numpy arrays), or None for tokenized texts."""
        return None

    def prepare_tokenizer(self, tokenizer) -> None:
        """Adjust the backbone's tokenizer before training (the bundle saves it as adjusted)."""

    def starter(self, profile) -> Starter | None:
        """How this task would train on the profiled file (None: the data does not fit it)."""
        return None

    def training_facts(self) -> dict[str, Any]:
        """Facts about the encoded training data for the report (e.g. how many examples were cut)."""
        return {}

    def build_model(self, model_path: str, label_names: list[str]) -> BuiltModel:
        """An ``auto_class`` model with a fresh head for ``label_names``, and what the checkpoint lacked."""
        from ..model_files import load_model

        model, info = load_model(
            self.auto_class,
            model_path,
            output_loading_info=True,
            num_labels=len(label_names),
            id2label=dict(enumerate(label_names)),
            label2id={n: i for i, n in enumerate(label_names)},
            **self.model_options(),
        )
        return BuiltModel(model, sorted(info.get("missing_keys") or ()))

    def model_config_problem(self, config: dict[str, Any], label_names: list[str]) -> str | None:
        """Why a bundle's ``config.json`` disagrees with its manifest's task and labels, or None.

        The architecture must be the task's (``auto_class``), ``id2label`` must list the labels in
        order, and the task's own options (such as ``problem_type``) must hold.
        """
        suffix = self.auto_class.removeprefix("AutoModel")
        architectures = config.get("architectures") or []
        if suffix and not any(str(a).endswith(suffix) for a in architectures):
            return f"task {self.name} needs a ...{suffix} model, config.json has {architectures}"
        problem = label_list_problem(config, label_names)
        if problem:
            return problem
        for key, value in self.model_options().items():
            if config.get(key) != value:
                return f"task {self.name} needs {key}={value!r}, config.json has {config.get(key)!r}"
        return None

    def model_options(self) -> dict[str, Any]:
        """Extra ``from_pretrained`` options of the task's model config."""
        return {}

    def load_trained(self, model_dir: str):
        """Reload a fine-tuned model saved with ``save_pretrained`` (safetensors only)."""
        from ..model_files import load_model

        return load_model(self.auto_class, model_dir)

    # -- data ------------------------------------------------------------------------------------------

    def read_examples(self, path: Path, fmt: str, columns, require_labels: bool = True) -> list[dict[str, Any]]:
        """A data file -> checked examples (text rows by default; ``parse_label`` reads a label cell)."""
        from ..data.examples import read_text_rows

        if fmt not in self.formats:
            raise DataError(f"{path}: task {self.name} reads {', '.join(self.formats)} files, not {fmt}")
        return read_text_rows(path, fmt, text_column=columns.text_column, text_pair_column=columns.text_pair_column,
                              label_columns=[columns.label_column], require_labels=require_labels,
                              parse_label=lambda values, where: self.parse_label(values.get(columns.label_column),
                                                                                 where, columns))

    def parse_label(self, cell: Any, where: str, columns) -> Any:
        """One label cell -> the example's ``label`` (a class name by default)."""
        from ..data.examples import label_value

        return label_value(cell, where, columns.label_column, columns.label_names)

    def labels_of(self, example: dict[str, Any]) -> list[str]:
        """The label names an example carries (for counts and known-label checks)."""
        label = example["label"]
        return list(label) if isinstance(label, list) else [label]

    def label_space(self, train: list[dict[str, Any]], columns, source: str) -> list[str]:
        """The label names the model predicts (``columns``: the data section's ``DataColumns``):
        ``data.label_names`` order if set (a mapping: its names), else sorted; at least two."""
        given = columns.label_names
        if isinstance(given, dict):  # raw label -> name: the names, in the mapping's order
            given = list(dict.fromkeys(given.values()))
        names = list(given) if given else sorted({n for e in train for n in self.labels_of(e)})
        if len(names) < 2:
            raise DataError(f"{source}: task {self.name} needs at least two distinct labels, found {names}")
        return names

    def check_known_labels(self, examples: list[dict[str, Any]], label_names: list[str], split: str) -> None:
        """Fail on the first example whose label never appears in training."""
        known = set(label_names)
        for example in examples:
            for label in self.labels_of(example):
                if label not in known:
                    raise DataError(
                        f"{example['where']}: label {label!r} in the {split} data never appears in the training data "
                        f"(known labels: {', '.join(label_names)})")

    def check_training_data(self, train: list[dict[str, Any]], splits_carved: int, source: str) -> None:
        """Warn about labels that look like missing values and labels with one example.

        ``splits_carved``: how many evaluation splits will be carved out of this file (0, 1 or 2).
        """
        counts = Counter(n for e in train for n in self.labels_of(e))
        odd = {n: c for n, c in counts.items() if n.strip().lower() in MISSING_LOOKING}
        for name, count in odd.items():
            first = next(e["where"] for e in train if name in self.labels_of(e))
            log.warning("%s: %d examples have the label %r, which looks like a missing value (first: %s); it becomes "
                        "a class of its own: fill in or remove those rows if that is not meant", source, count, name,
                        first)
        single = sorted(n for n, c in counts.items() if c == 1)
        if single:
            log.warning("%s: %d labels have a single training example (%s): the model can hardly learn them", source,
                        len(single), ", ".join(repr(n) for n in single[:5]))

    def train_stats(self, train: list[dict[str, Any]]) -> dict[str, Any]:
        """What the report's baselines need from the training data (stored in the manifest)."""
        return {"examples": len(train), "label_counts": dict(Counter(n for e in train for n in self.labels_of(e)))}

    def demo_examples(self) -> list[dict[str, Any]]:
        """A few labelled examples of this task (the contract test trains every method on them)."""
        return []

    def workload_examples(self) -> list[dict[str, Any]] | None:
        """Inputs that time the model's runtimes (``--backend auto``); None: varied English texts."""
        return None

    def warm_up_examples(self, pairs: bool) -> list[dict[str, Any]]:
        """One input the model must answer: the server's first inference and its health check
        (``pairs``: the bundle reads text pairs)."""
        return [{"text": "warm-up", "text_pair": "warm-up"} if pairs else {"text": "warm-up"}]

    # -- reports and export ------------------------------------------------------------------------------

    def report_sections(self, metrics: dict[str, Any], examples: list[dict[str, Any]] | None,
                        predictions: list[dict[str, Any]] | None) -> list[tuple[str, str, str]]:
        """The task's parts of the HTML report: ``(id, heading, html)`` each (empty html: left out)."""
        return []

    def markdown_sections(self, metrics: dict[str, Any]) -> list[str]:
        """The task's parts of the markdown report (per-class tables and the like)."""
        from ..evaluation.report import per_class_markdown

        return per_class_markdown(metrics, self.per_class_title)

    def same_prediction(self, a: dict[str, Any], b: dict[str, Any]) -> bool:
        """Whether two predictions of one input agree (the ONNX parity check)."""
        keys = ("label", "labels", "tags")
        return [a.get(k) for k in keys] == [b.get(k) for k in keys]

    # -- text tasks: shared tokenization and inference ---------------------------------------------------

    def text_features(self, examples, tokenizer, max_length: int) -> dict[str, list]:
        """Tokenize texts (and their pairs, ``[CLS] a [SEP] b [SEP]``) without padding."""
        texts = [e["text"] for e in examples]
        pairs = [e["text_pair"] for e in examples] if examples and examples[0].get("text_pair") else None
        return dict(tokenizer(texts, pairs, truncation=True, max_length=max_length))

    def text_outputs(self, model, tokenizer, examples, max_length: int, batch_size: int) -> list[np.ndarray]:
        """The model's output row (logits, or values) for each text example, in input order."""
        columns = self.text_features(examples, tokenizer, max_length)
        features = [dict(zip(columns, values)) for values in zip(*columns.values())]
        return batched_logits(model, features, self.collator(tokenizer), batch_size)

    # -- model ---------------------------------------------------------------------------------------

    def encode(self, examples, tokenizer, label_names, max_length, with_labels=True):
        raise NotImplementedError

    def collator(self, tokenizer):
        raise NotImplementedError

    def trainer_metrics(self, label_names: list[str], threshold: float) -> Callable:
        raise NotImplementedError

    def trainer_class(self, base):
        """The Trainer class this task trains with: ``base``, or a subclass computing its loss its own way."""
        return base

    def predict(self, model, tokenizer, examples, label_names, *, max_length, threshold=0.5, batch_size=64):
        raise NotImplementedError

    def score(self, examples, predictions, label_names, train_stats) -> dict[str, Any]:
        raise NotImplementedError


class WithoutLabelList(Task):
    """A task whose target is not one of a set of labels (generated text, a span of the input): no label
    list, no label counts, any target is known."""

    def labels_of(self, example):
        """No class labels."""
        return []

    def label_space(self, train, columns, source):
        """No label list."""
        return []

    def check_known_labels(self, examples, label_names, split):
        """Any target is a known one."""


def label_list_problem(config: dict[str, Any], label_names: list[str]) -> str | None:
    """Why a saved ``config.json``'s ``id2label`` does not list ``label_names`` in order, or None."""
    id2label = config.get("id2label") or {}
    saved = [id2label.get(str(i)) for i in range(len(id2label))]
    return None if saved == list(label_names) else f"labels {list(label_names)} in the manifest, {saved} in config.json"


def batched_logits(model, features: list[dict[str, list[int]]], collate, batch_size: int) -> list[np.ndarray]:
    """Run ``model`` over tokenized ``features`` in length-sorted batches; logits in input order.

    Sorting by length keeps padding (and so wasted compute) small. Each result is the
    example's logits: ``(num_labels,)`` for sequence tasks, ``(seq_len, num_labels)`` for tokens.
    """
    import torch

    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    results: list[np.ndarray | None] = [None] * len(features)
    model.eval()
    params = list(model.parameters())
    device = params[0].device if params else torch.device("cpu")  # an ONNX Runtime session has none
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = collate([features[i] for i in idx])
            batch = {k: v.to(device) for k, v in batch.items() if k != "labels"}
            logits = model(**batch).logits.float().cpu().numpy()  # (batch, [seq,] labels)
            for row, i in enumerate(idx):
                n = len(features[i]["input_ids"])
                results[i] = logits[row, :n] if logits.ndim == 3 else logits[row]
    return results  # type: ignore[return-value]


def softmax(x: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Element-wise logistic function."""
    return 1.0 / (1.0 + np.exp(-x))
