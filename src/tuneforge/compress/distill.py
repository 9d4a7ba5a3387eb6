"""Knowledge distillation: a smaller student learns from a fine-tuned teacher bundle.

The student is the teacher's own model with fewer encoder layers (every other layer kept, as
DistilBERT does: 6 -> layers 0, 2, 4), or any model folder the user names. It trains with
transformers' Trainer on ``alpha * cross-entropy(labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T)``,
where ``_T`` is a softmax at temperature T (Hinton et al. 2015); token classifiers use the same
loss per real token.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError
from ..training.heap import freed_memory_kept, pays_for

log = logging.getLogger("tuneforge")


def encoder_layers(model) -> tuple[nn.Module, str, nn.ModuleList]:
    """The ModuleList of transformer blocks (BERT/RoBERTa ``encoder.layer``, DistilBERT ``transformer.layer``)."""
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and (name.endswith("encoder.layer") or name.endswith("transformer.layer")):
            parent = model.get_submodule(name.rsplit(".", 1)[0])
            return parent, name.rsplit(".", 1)[1], module
    raise ConfigError(f"cannot find the encoder layers of {type(model).__name__} to shorten it")


def keep_layers(model, count: int):
    """A copy of ``model`` with ``count`` evenly spaced encoder layers (6 -> 3 keeps 0, 2, 4).

    Example:
        >>> keep_layers(teacher, 3).config.num_hidden_layers
        3
    """
    student = copy.deepcopy(model)
    parent, attr, layers = encoder_layers(student)
    total = len(layers)
    if not 1 <= count < total:
        raise ConfigError(f"a student keeps between 1 and {total - 1} of the teacher's {total} layers, not {count}")
    keep = [round(i * total / count) for i in range(count)]
    setattr(parent, attr, nn.ModuleList([layers[i] for i in keep]))
    student.config.num_hidden_layers = count
    if hasattr(student.config, "n_layers"):
        student.config.n_layers = count
    return student


UNLABELLED = -1  # label of an unlabelled sentence: it learns from the teacher only


def distillation_loss(student_logits, teacher_logits, labels, temperature: float, alpha: float):
    """Task loss on labels plus temperature-scaled KL to the teacher, over real positions only.

    Shapes: logits (batch, labels) or (batch, seq, labels); labels (batch,) or (batch, seq) with -100
    ignored. A sentence labelled ``UNLABELLED`` (-1) adds only to the KL term.
    """
    classes = student_logits.shape[-1]
    s, t = student_logits.reshape(-1, classes), teacher_logits.reshape(-1, classes)
    flat = labels.reshape(-1)
    keep = flat != -100
    s, t, flat = s[keep], t[keep], flat[keep]
    labelled = flat != UNLABELLED
    task = nn.functional.cross_entropy(s[labelled], flat[labelled]) if labelled.any() else s.sum() * 0
    kl = nn.functional.kl_div(nn.functional.log_softmax(s / temperature, -1), nn.functional.log_softmax(t / temperature, -1),
                              reduction="batchmean", log_target=True)
    return alpha * task + (1 - alpha) * temperature**2 * kl


def _trainer_class():
    from transformers import Trainer

    from ..precision import autocast

    class DistillationTrainer(Trainer):
        """Trainer whose loss mixes the labels with the teacher's softened predictions."""

        def __init__(self, *args, teacher=None, temperature=2.0, alpha=0.5, **kwargs):
            super().__init__(*args, **kwargs)
            self.teacher = teacher.eval()
            self.temperature, self.alpha = temperature, alpha

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            with torch.no_grad(), autocast("bf16" if self.args.bf16 else "fp32"):
                teacher_logits = self.teacher(**inputs).logits
            # the loss in fp32 whatever the forward passes computed in
            loss = distillation_loss(outputs.logits.float(), teacher_logits.float(), labels, self.temperature,
                                     self.alpha)
            inputs["labels"] = labels
            return (loss, outputs) if return_outputs else loss

    return DistillationTrainer


def train_student(student, teacher, tokenizer, task, label_names: list[str], train_examples: list[dict[str, Any]], *,
                  max_length: int, temperature: float = 2.0, alpha: float = 0.5, epochs: float = 1.0,
                  learning_rate: float = 1e-4, batch_size: int = 32, seed: int = 42,
                  unlabelled: list[dict[str, Any]] | None = None, precision: str = "auto"):
    """Train ``student`` on ``train_examples`` against ``teacher``'s logits (``alpha=1``: labels only).

    ``precision``: ``auto`` (bf16 autocast where the CPU has native bf16, see ``tuneforge.precision``),
    ``fp32`` or ``bf16``.

    ``unlabelled`` texts (``{"text": ...}``; sequence classification) add teacher-only examples.
    """
    from datasets import concatenate_datasets
    from transformers import set_seed

    from ..precision import plain_model, resolve_precision
    from ..training.arguments import trainer_arguments

    set_seed(seed)
    for param in student.parameters():
        param.requires_grad_(True)
    dataset = task.encode(train_examples, tokenizer, label_names, max_length)
    if unlabelled:
        if not task.single_label:
            raise ConfigError(f"distillation on unlabelled text needs one label per text; task {task.name} has not")
        extra = task.encode(unlabelled, tokenizer, label_names, max_length, with_labels=False)
        extra = extra.add_column("labels", [UNLABELLED] * len(extra))
        dataset = concatenate_datasets([dataset, extra.cast(dataset.features)])
    with tempfile.TemporaryDirectory(prefix="tuneforge-distill-") as scratch:
        args = trainer_arguments(
            scratch, epochs=epochs, learning_rate=learning_rate, batch_size=batch_size, seed=seed,
            precision=resolve_precision(precision).name, warmup_steps=0.06, weight_decay=0.01, save_strategy="no", eval_strategy="no", logging_steps=200,
            train_sampling_strategy="group_by_length", length_column_name="length", remove_unused_columns=False,
        )
        trainer = _trainer_class()(model=student, args=args, train_dataset=dataset, data_collator=task.collator(tokenizer),
                                   teacher=teacher, temperature=temperature, alpha=alpha)
        with freed_memory_kept(pays_for(student)):
            trainer.train()
    return plain_model(trainer.model).eval()


def distill(teacher, tokenizer, task, label_names: list[str], train_examples: list[dict[str, Any]], *,
            max_length: int, layers: int = 3, student_model: str | None = None, **training):
    """Train and return a student of ``teacher`` (a plain transformers classifier) on ``train_examples``.

    The student keeps ``layers`` of the teacher's encoder layers, or is ``student_model`` (a folder
    or hub id) with a fresh head. ``training``: ``temperature``, ``alpha``, ``epochs``,
    ``learning_rate``, ``batch_size``, ``seed`` (see ``train_student``).

    Example:
        >>> student = distill(predictor.model, predictor.tokenizer, predictor.task, predictor.label_names, train,
        ...                   max_length=128, layers=3)
    """
    if student_model:
        from ..backbone import resolve_backbone

        student = task.build_model(resolve_backbone(student_model), label_names)
    else:
        student = keep_layers(teacher, layers)
    return train_student(student, teacher, tokenizer, task, label_names, train_examples, max_length=max_length,
                         **training)
