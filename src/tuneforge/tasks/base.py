"""What every task provides, plus batched inference shared by all of them."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


class Task:
    """Contract of a task. Subclasses live in one module each and register an instance.

    - ``build_model``: a transformers model with a fresh head for ``label_names``;
    - ``encode``: checked examples -> a ``datasets.Dataset`` of model inputs (with ``length``);
    - ``collator``: pads a batch dynamically;
    - ``trainer_metrics``: a ``compute_metrics`` function for transformers' Trainer;
    - ``predict``: examples -> one prediction dict each;
    - ``score``: examples + predictions -> the metrics dict of the report (``train_stats``:
      ``{"examples": n, "label_counts": {...}}`` of the training data, for baselines).
    """

    name: str = ""
    default_metric: str = ""
    trainer_metric_names: tuple[str, ...] = ()
    default_max_length: int = 128
    single_label: bool = False  # one of a set of labels per example (what few-shot methods need)

    auto_class: str = ""

    def build_model(self, model_path: str, label_names: list[str]):
        """An ``auto_class`` model with a fresh head for ``label_names``.

        Parameters the checkpoint lacks (the head, sometimes a pooler) are recorded in
        ``model.tuneforge_new_parameters``: a bundle that stores only trained parameters must
        store these too, or a model rebuilt from the base would get other random values.
        """
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
        model.tuneforge_new_parameters = sorted(info.get("missing_keys") or ())
        return model

    def model_config_problem(self, config: dict[str, Any], label_names: list[str]) -> str | None:
        """Why a bundle's ``config.json`` disagrees with its manifest's task and labels, or None.

        The architecture must be the task's (``auto_class``), ``id2label`` must list the labels in
        order, and the task's own options (such as ``problem_type``) must hold.
        """
        suffix = self.auto_class.removeprefix("AutoModel")
        architectures = config.get("architectures") or []
        if suffix and not any(str(a).endswith(suffix) for a in architectures):
            return f"task {self.name} needs a ...{suffix} model, config.json has {architectures}"
        id2label = config.get("id2label") or {}
        saved = [id2label.get(str(i)) for i in range(len(id2label))]
        if saved != list(label_names):
            return f"labels {list(label_names)} in the manifest, {saved} in config.json"
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

    def encode(self, examples, tokenizer, label_names, max_length, with_labels=True):
        raise NotImplementedError

    def collator(self, tokenizer):
        raise NotImplementedError

    def trainer_metrics(self, label_names: list[str], threshold: float) -> Callable:
        raise NotImplementedError

    def predict(self, model, tokenizer, examples, label_names, *, max_length, threshold=0.5, batch_size=64):
        raise NotImplementedError

    def score(self, examples, predictions, label_names, train_stats) -> dict[str, Any]:
        raise NotImplementedError


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
