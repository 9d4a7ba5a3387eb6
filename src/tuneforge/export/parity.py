"""Parity between two ways of running one model (PyTorch against an export, fp32 against bf16): the
largest difference of their outputs on real inputs and how often their predictions agree."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from torch import nn


class LogitRecorder(nn.Module):
    """Pass batches through ``model`` and keep each batch's logits (fp32) and attention mask (if any)."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model
        self.batches: list[tuple[np.ndarray, np.ndarray]] = []

    def forward(self, **batch):
        """The wrapped model's output; its logits and the batch's attention mask are kept."""
        out = self.model(**batch)
        mask = batch.get("attention_mask")  # images have none: every output is real
        self.batches.append((out.logits.detach().float().cpu().numpy(), None if mask is None else mask.cpu().numpy()))
        return out


def compare(predictor, reference_model, candidate_model, examples,
            transform: Callable[[np.ndarray], np.ndarray] | None = None) -> dict[str, Any]:
    """Largest absolute difference of the two models' logits (after ``transform``, e.g. a softmax; real
    positions only for token tasks) and prediction agreement, on ``examples``; plus the candidate's
    predictions."""
    runs = []
    for model in (reference_model, candidate_model):
        recorder = LogitRecorder(model)
        predictions = predictor.task.predict(recorder, predictor.tokenizer, examples, predictor.label_names,
                                             max_length=predictor.max_length, threshold=predictor.threshold)
        runs.append((recorder.batches, predictions))
    (ref_batches, ref_pred), (cand_batches, cand_pred) = runs
    transform = transform or (lambda logits: logits)
    worst = 0.0
    for (ref, mask), (cand, _) in zip(ref_batches, cand_batches):
        diff = np.abs(transform(ref) - transform(cand))  # (batch, labels) or (batch, seq, labels)
        if diff.ndim == 3:
            diff = diff[mask.astype(bool)]
        worst = max(worst, float(diff.max()) if diff.size else 0.0)
    agree = sum(predictor.task.same_prediction(a, b) for a, b in zip(ref_pred, cand_pred))
    return {"max_abs_diff": worst, "agreement": agree / max(len(examples), 1), "examples": len(examples),
            "predictions": cand_pred}
