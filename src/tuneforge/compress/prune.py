"""Pruning, each kind followed by a short recovery fine-tuning (see the ``prune`` step of compress).

- ``magnitude:S``: global unstructured magnitude pruning of the encoder's Linear weights to
  sparsity S (torch.nn.utils.prune); the masks stay on during recovery so pruned weights stay zero.
  The weights stay dense tensors, so this shrinks neither the file nor the latency of a dense runtime.
- ``layers:N``: structured pruning that keeps N evenly spaced encoder layers (whole blocks removed).

Recovery trains on the labels and the unpruned model's logits (``compress.distill.train_student``).
"""

from __future__ import annotations

import copy

from torch import nn

from ..errors import ConfigError
from .distill import encoder_layers, keep_layers


def parse_spec(spec: str) -> tuple[str, float]:
    """``"magnitude:0.5"`` -> ("magnitude", 0.5); ``"layers:4"`` -> ("layers", 4)."""
    kind, _, value = spec.partition(":")
    try:
        amount = float(value)
    except ValueError:
        raise ConfigError(f"prune spec {spec!r}: expected magnitude:SPARSITY or layers:COUNT") from None
    if kind == "magnitude" and 0 < amount < 1:
        return kind, amount
    if kind == "layers" and amount >= 1 and amount == int(amount):
        return kind, int(amount)
    raise ConfigError(f"prune spec {spec!r}: expected magnitude:SPARSITY (0 < S < 1) or layers:COUNT (whole number)")


def _encoder_linears(model) -> list[nn.Linear]:
    _, _, layers = encoder_layers(model)
    return [m for m in layers.modules() if isinstance(m, nn.Linear)]


def magnitude_prune(model, sparsity: float):
    """A copy of ``model`` with the smallest ``sparsity`` share of encoder Linear weights masked to zero.

    Example:
        >>> pruned = magnitude_prune(model, 0.5); round(sparsity_of(pruned), 2)
        0.5
    """
    from torch.nn.utils import prune

    pruned = copy.deepcopy(model)
    prune.global_unstructured([(m, "weight") for m in _encoder_linears(pruned)],
                              pruning_method=prune.L1Unstructured, amount=sparsity)
    return pruned


def make_permanent(model):
    """Fold pruning masks into the weights (zeros stay zeros) so the model saves as a plain one."""
    from torch.nn.utils import prune

    for module in _encoder_linears(model):
        if prune.is_pruned(module):
            prune.remove(module, "weight")
    return model


def sparsity_of(model) -> float:
    """Share of exact zeros among the encoder's Linear weights."""
    weights = [m.weight for m in _encoder_linears(model)]
    return float(sum((w == 0).sum().item() for w in weights) / sum(w.numel() for w in weights))


def prune_model(model, spec: str):
    """Apply ``spec`` (see ``parse_spec``) to a copy of ``model``; returns (pruned model, description)."""
    kind, amount = parse_spec(spec)
    if kind == "magnitude":
        return magnitude_prune(model, amount), f"{100 * amount:.0f}% of encoder weights zeroed"
    return keep_layers(model, amount), f"{amount} encoder layers kept"
