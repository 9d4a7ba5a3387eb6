"""Cheaper dropout for training on the CPU: masks cut from 64-bit random words, one draw per four elements.

PyTorch's CPU dropout draws one Bernoulli number per element. On the default encoder at batch 32 that was
a fifth of a bf16 training step, and dropout on attention probabilities makes SDPA leave its flash kernel
for the math path (which on the CPU computes bf16 inputs in fp32). Here one 64-bit random word from the
same seeded generator gives four 15-bit numbers; an element is kept when its number is at or above
``round(p * 32768)``. Kept elements are scaled by ``1 / (1 - p)``, the gradient is masked the same way:
dropout's distribution up to 1/32768 in ``p``, reproducible from the seed like PyTorch's.

``mask_dropout(model)`` applies it for training (``train.mask_dropout: true``; off by default):
- every ``nn.Dropout`` module (embeddings, hidden states, classifier heads) becomes a ``MaskDropout``;
- a model on transformers' SDPA attention switches to ``tuneforge_sdpa``: while training with attention
  dropout on a non-causal model it computes softmax(QK^T) V in fp32 with this mask (as SDPA's math path
  would, with PyTorch's mask), and otherwise it is SDPA itself.
The attention switch is not saved (transformers keeps the implementation out of ``config.json``), and
``plain_dropout`` undoes both swaps before the trained model is evaluated and bundled.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ATTENTION = "tuneforge_sdpa"
_RESOLUTION = 1 << 15


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """A boolean tensor of ``shape``, each element True with probability ``1 - p`` (to 1/32768)."""
    count = math.prod(shape)
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=device).random_()  # 63 random bits each
    numbers = words.view(torch.int16)[:count].bitwise_and_(_RESOLUTION - 1)  # the top one lacks its sign bit
    return numbers.ge(round(p * _RESOLUTION)).view(shape)


class _MaskedScale(torch.autograd.Function):
    """x * keep / (1 - p), with the gradient masked and scaled alike (keep saved as booleans)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float) -> torch.Tensor:
        keep = keep_mask(x.shape, p, x.device)
        ctx.save_for_backward(keep)
        ctx.scale = 1.0 / (1.0 - p)
        return x.mul(keep).mul_(ctx.scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (keep,) = ctx.saved_tensors
        return grad.mul(keep).mul_(ctx.scale), None


def drop(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``F.dropout`` with a mask from ``keep_mask`` (the same as ``F.dropout`` when not training or p is 0 or 1)."""
    if not training or p <= 0.0 or p >= 1.0 or x.device.type != "cpu":
        return nn.functional.dropout(x, p, training)
    return _MaskedScale.apply(x, p)


class MaskDropout(nn.Dropout):
    """``nn.Dropout`` drawing its mask with ``keep_mask``; same ``p``, same state dict (none)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Dropout of ``x`` while training; ``x`` itself in evaluation."""
        if self.inplace:
            return super().forward(x)
        return drop(x, self.p, self.training)


def sdpa_with_mask_dropout(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None,
                           is_causal=None, **kwargs):
    """transformers' SDPA attention, except while training a non-causal model with attention dropout: there
    softmax(QK^T * scaling + mask) V in fp32 with the dropout of this module (a boolean mask: True = attend)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    causal = is_causal if is_causal is not None else getattr(module, "is_causal", True)
    plain = (not module.training or dropout <= 0.0 or query.device.type != "cpu" or causal
             or getattr(module, "num_key_value_groups", 1) != 1 or kwargs.get("position_bias") is not None
             or kwargs.get("cache") is not None)
    if plain:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    with torch.autocast(query.device.type, enabled=False):  # in fp32, as SDPA's math path computes bf16 inputs
        scores = torch.matmul(query.float(), key.float().transpose(-1, -2)) * scale
        if attention_mask is not None:
            if attention_mask.dtype == torch.bool:
                scores = scores.masked_fill(~attention_mask, torch.finfo(scores.dtype).min)
            else:
                scores = scores + attention_mask
        probs = drop(torch.softmax(scores, dim=-1), dropout)
        out = torch.matmul(probs, value.float()).to(query.dtype)
    return out.transpose(1, 2).contiguous(), None


def _register() -> None:
    """Make ``tuneforge_sdpa`` known to transformers, with SDPA's masks (registering again is harmless)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION, sdpa_with_mask_dropout)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)


_ATTENTION_DROPOUT = ("attention_probs_dropout_prob", "attention_dropout", "attn_pdrop")  # names configs use


def _transformers_models(model: nn.Module, attention: str) -> list:
    """The transformers models inside ``model`` (itself, under PEFT, or in a task's own model) on ``attention``."""
    return [m for m in model.modules() if hasattr(m, "set_attn_implementation")
            and getattr(getattr(m, "config", None), "_attn_implementation", None) == attention]


def _swap_dropout(model: nn.Module, old: type, new: type) -> None:
    """Replace every module of exactly type ``old`` with a ``new`` of the same ``p``, ``inplace`` and mode."""
    for parent in model.modules():
        for name, child in list(parent.named_children()):
            if type(child) is old:
                replacement = new(child.p, child.inplace)
                replacement.train(child.training)
                setattr(parent, name, replacement)


def mask_dropout(model: nn.Module) -> nn.Module:
    """``model`` (changed in place) with ``MaskDropout`` modules and, where it runs SDPA attention with
    attention dropout, ``tuneforge_sdpa`` attention."""
    _swap_dropout(model, nn.Dropout, MaskDropout)
    for inner in _transformers_models(model, "sdpa"):
        rates = [getattr(inner.config, name, 0.0) for name in _ATTENTION_DROPOUT]
        if inner.config._attn_implementation == "sdpa" and any(isinstance(r, float) and r > 0 for r in rates) \
                and inner._can_set_attn_implementation():
            _register()
            inner.set_attn_implementation(ATTENTION)
    return model


def plain_dropout(model: nn.Module) -> nn.Module:
    """Undo ``mask_dropout``: ``nn.Dropout`` modules and SDPA attention again (in place)."""
    _swap_dropout(model, MaskDropout, nn.Dropout)
    for inner in _transformers_models(model, ATTENTION):
        if inner.config._attn_implementation == ATTENTION:
            inner.set_attn_implementation("sdpa")
    return model


def for_training(model: nn.Module, train) -> nn.Module:
    """``mask_dropout(model)`` where ``train`` (the run's ``train`` section) asks for it: ``mask_dropout: true``,
    no ``torch.compile`` (inductor draws its own masks) and no GPU; ``model`` as it is otherwise."""
    if train.mask_dropout and not train.compile and not torch.cuda.is_available():
        return mask_dropout(model)
    return model
