"""bf16 inference in the PyTorch backend, behind a parity gate measured when the bundle is made.

A run evaluates its model in fp32, then again under bf16 autocast on the same evaluation data, and
records in the manifest's ``inference`` section how often the two predictions agree and the largest
difference of their probabilities. ``Predictor.load(..., precision="auto")`` then computes in bf16
only when ``auto`` picks bf16 on this CPU (``tuneforge.precision``) and the gate passed; otherwise fp32.
Tasks that generate text keep fp32 inference (no gate is measured for them).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from .precision import Precision, autocast, resolve_precision

log = logging.getLogger("tuneforge")

MIN_AGREEMENT = 0.99  # at most 1 prediction in 100 may change
MAX_PROBABILITY_DIFF = 0.05


class Autocast(torch.nn.Module):
    """``model`` computing under bf16 autocast, its logits returned in fp32."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model
        self.config = getattr(model, "config", None)

    def forward(self, **batch):
        """The wrapped model's forward under bf16 autocast (logits cast back to fp32)."""
        with autocast("bf16"):
            out = self.model(**batch)
        if getattr(out, "logits", None) is not None:
            out.logits = out.logits.float()
        return out


MATRIX_LAYERS = (torch.nn.Linear, torch.nn.modules.conv._ConvNd)  # what autocast runs in bf16


def with_bf16_weights(model):
    """A copy of ``model`` whose linear and convolution layers hold bf16 weights, to run under bf16
    autocast only. Autocast casts those weights to bf16 on every forward pass: at batch 1 that cast is
    a large share of the pass. Cast once here, the computation is the same, number for number.
    Other parameters (embeddings, norms) stay fp32, as autocast leaves them. A model without such
    layers (or not a torch module) is returned as it is."""
    import copy

    if not isinstance(model, torch.nn.Module) or not any(isinstance(m, MATRIX_LAYERS) for m in model.modules()):
        return model
    twin = copy.deepcopy(model)
    for module in twin.modules():
        if isinstance(module, MATRIX_LAYERS):
            module.to(torch.bfloat16)
    twin.eval()
    return twin


def _probabilities(logits: np.ndarray) -> np.ndarray:
    if logits.shape[-1] == 1:  # one output (regression): the value itself
        return logits
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def bf16_parity(predictor, examples: list[dict[str, Any]]) -> dict[str, Any]:
    """Agreement of fp32 and bf16-autocast predictions on ``examples`` and the largest probability
    difference (softmax; the value for one-output regression); ``accepted`` when both are in bounds."""
    from .export.parity import compare

    with torch.inference_mode():
        check = compare(predictor, predictor.model, Autocast(predictor.model), examples, transform=_probabilities)
    agreement, worst = check["agreement"], check["max_abs_diff"]
    accepted = agreement >= MIN_AGREEMENT and worst <= MAX_PROBABILITY_DIFF
    return {"bf16": {"agreement": round(agreement, 6), "max_probability_diff": round(worst, 6),
                     "examples": len(examples), "accepted": accepted,
                     "limits": {"min_agreement": MIN_AGREEMENT, "max_probability_diff": MAX_PROBABILITY_DIFF}}}


def check_bf16_inference(predictor, examples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The gate's measurement for a bundle's manifest, or None where it does not apply (text generation,
    models that are not plain torch modules, no examples)."""
    if predictor.task.generates_text or not examples or not isinstance(predictor.model, torch.nn.Module):
        return None
    try:
        result = bf16_parity(predictor, examples)
    except (AttributeError, TypeError, ValueError, RuntimeError) as exc:  # a model kind the recorder cannot read
        log.info("bf16 inference not checked (%s): fp32 inference", exc)
        return None
    check = result["bf16"]
    log.info("bf16 inference parity on %d examples: agreement %.4f, largest probability difference %.4f -> %s",
             check["examples"], check["agreement"], check["max_probability_diff"],
             "accepted" if check["accepted"] else "fp32 kept")
    return result


def inference_precision(manifest, requested: str = "auto", flags: set[str] | None = None) -> Precision:
    """The precision a PyTorch predictor of this bundle computes in: ``fp32``; ``bf16`` as asked;
    ``auto`` -> bf16 only when the CPU has native bf16 and the bundle's parity gate passed."""
    chosen = resolve_precision(requested, flags)
    if requested != "auto" or not chosen.bf16:
        return chosen
    check = ((manifest.inference or {}).get("bf16") or {})
    if not check:
        return Precision("fp32", "auto: this bundle has no bf16 parity check, so fp32")
    if not check.get("accepted"):
        return Precision("fp32", f"auto: bf16 failed the parity gate (agreement {check['agreement']:.4f}, "
                                 f"largest probability difference {check['max_probability_diff']:.4f}), so fp32")
    return Precision("bf16", f"{chosen.reason}; parity gate passed (agreement {check['agreement']:.4f})")
