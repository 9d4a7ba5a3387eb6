"""Attribution highlights for a report's most confident mistakes: which words pushed the model to the
wrong label. Runs after evaluation on text classifiers with a PyTorch model when Captum is installed;
otherwise the report simply has no highlights."""

from __future__ import annotations

import importlib.util
import logging
from typing import Any

log = logging.getLogger("tuneforge")

SHOWN = 5
STEPS = 32


def explain_mistakes(predictor, examples: list[dict[str, Any]], predictions: list[dict[str, Any]],
                     shown: int = SHOWN) -> int:
    """Add ``explanation`` (per-word integrated-gradients attributions to the predicted label) to the
    ``shown`` most confident wrong single-label predictions; returns how many got one."""
    task = predictor.task
    embeddings = getattr(predictor.model, "get_input_embeddings", None)
    if task.logit_kind != "softmax" or predictor.backend != "torch" or not importlib.util.find_spec("captum") \
            or embeddings is None or embeddings() is None:
        return 0  # few-shot and zero-shot models (their own kinds) have no embedding layer to attribute to
    from .attributions import explain_texts

    wrong = sorted((i for i, (e, p) in enumerate(zip(examples, predictions))
                    if "label" in p and p["label"] != e.get("label") and isinstance(e.get("text"), str)),
                   key=lambda i: -(predictions[i].get("score") or 0.0))[:shown]
    if not wrong:
        return 0
    try:
        results = explain_texts(predictor, [examples[i]["text"] for i in wrong],
                                [examples[i].get("text_pair") for i in wrong], steps=STEPS)
    except Exception as exc:  # highlights are a nicety of the report: never the reason a run fails
        log.warning("report: no attribution highlights (%s: %s)", type(exc).__name__, exc)
        return 0
    for i, result in zip(wrong, results):
        predictions[i]["explanation"] = result["words"]
    log.debug("report: attributions for the %d most confident mistakes", len(wrong))
    return len(wrong)
