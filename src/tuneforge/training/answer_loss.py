"""A causal LM's training loss computed only at the positions that carry one.

When a model learns answers and not prompts (``task.train_on_prompt: false``, the default), most tokens of
a conversation have no loss: in DialogSum, the dialogue is the prompt and only the summary is learned.
Transformers still projects every position onto the whole vocabulary (49,152 words for SmolLM2) and
casts those logits to fp32 for the cross-entropy. This Trainer computes the decoder's hidden states,
keeps the positions whose next token has a label, and projects and scores only those: the same loss,
number for number up to float rounding, without the work whose result is thrown away.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F

from ..generation.chat_format import IGNORE  # the label of positions without loss


def _plain_causal_lm(model):
    """The transformers model inside ``model`` (PEFT's wrapper removed), or None where the shortcut does not
    apply: prompt-learning PEFT methods add virtual tokens in their own forward, which the shortcut skips."""
    config = getattr(model, "peft_config", None)
    if config is not None:
        if any(getattr(c, "is_prompt_learning", False) for c in config.values()):
            return None
        model = model.get_base_model()
    if not hasattr(model, "get_decoder") or model.get_output_embeddings() is None:
        return None
    return model


def answer_only_loss(model, inputs: dict[str, torch.Tensor], num_items_in_batch=None,
                     autocast=contextlib.nullcontext) -> torch.Tensor | None:
    """The next-token cross-entropy of ``model`` on ``inputs`` (``input_ids``, ``attention_mask``, ``labels``)
    over the labelled positions only: summed and divided by ``num_items_in_batch`` when given, else their
    mean; the model runs under ``autocast()`` (the training precision), the loss in fp32. None where the
    model is not a plain causal LM (the caller then uses the model's own loss)."""
    causal_lm = _plain_causal_lm(model)
    if causal_lm is None or "labels" not in inputs:
        return None
    targets = inputs["labels"][:, 1:]
    keep = targets != IGNORE
    with autocast():
        hidden = causal_lm.get_decoder()(input_ids=inputs["input_ids"],
                                         attention_mask=inputs.get("attention_mask")).last_hidden_state
        logits = causal_lm.get_output_embeddings()(hidden[:, :-1][keep])
    loss = F.cross_entropy(logits.float(), targets[keep], reduction="sum")
    if num_items_in_batch is None:
        return loss / keep.sum().clamp(min=1)
    return loss / num_items_in_batch


def answer_only_trainer(base):
    """``base`` (a Trainer class) computing its training loss with ``answer_only_loss``."""

    class AnswerOnlyTrainer(base):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            wrapped = isinstance(model, torch.nn.parallel.DistributedDataParallel) or hasattr(model, "_orig_mod")
            if return_outputs or not model.training or wrapped:  # evaluation wants the logits; DDP and
                # torch.compile need their own forward: the model's own path
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            scaled = self.model_accepts_loss_kwargs and num_items_in_batch is not None  # as Trainer decides
            loss = answer_only_loss(model, inputs, num_items_in_batch if scaled else None, self.accelerator.autocast)
            if loss is None:
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            return loss

    return AnswerOnlyTrainer
