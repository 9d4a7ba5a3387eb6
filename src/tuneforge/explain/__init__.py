"""Explanations: which words drove a prediction (integrated gradients, ``attributions.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def explain(bundle, texts: list[str], text_pairs: list[str] | None = None, target: str | None = None,
            steps: int = 50) -> list[dict[str, Any]]:
    """Per-word integrated-gradients attributions of each text to its predicted label (or ``target``),
    with the prediction, the output difference they explain and Captum's convergence delta. ``bundle``:
    a bundle folder or a loaded ``Predictor``."""
    from ..data.text import text_problem
    from ..errors import ConfigError
    from ..logs import api_logging
    from ..predictor import Predictor
    from .attributions import explain_texts

    api_logging()
    predictor = bundle if isinstance(bundle, Predictor) else Predictor.load(Path(bundle))
    for number, text in enumerate(texts, start=1):
        problem = text_problem(text)
        if problem:
            raise ConfigError(f"text {number} {problem}")
    return explain_texts(predictor, texts, text_pairs, target, steps)
