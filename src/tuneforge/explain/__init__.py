"""Explanations: which words drove a prediction. Integrated gradients (``attributions.py``; per entity
for taggers, ``entities.py``) or leave-one-word-out occlusion on any backend (``occlusion.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

METHODS = ("integrated_gradients", "occlusion")


def explain(bundle, texts: list[str], text_pairs: list[str] | None = None, target: str | None = None,
            steps: int = 50, method: str = "integrated_gradients", backend: str = "torch") -> list[dict[str, Any]]:
    """Per-word attributions of each text to its predicted label (or ``target``), with the prediction.
    ``method``: ``integrated_gradients`` (the output difference they explain and Captum's convergence
    delta; entity taggers: one explanation per predicted entity) or ``occlusion`` (the target score's
    fall without each word; any backend). ``bundle``: a bundle folder or a loaded ``Predictor``."""
    from ..data.text import text_problem
    from ..errors import ConfigError
    from ..logs import api_logging
    from ..predictor import Predictor

    api_logging()
    if method not in METHODS:
        raise ConfigError(f"unknown explanation method {method!r}; choose {' or '.join(METHODS)}")
    if backend != "torch" and method != "occlusion":
        raise ConfigError("integrated gradients need the PyTorch model; use --method occlusion with other backends")
    predictor = bundle if isinstance(bundle, Predictor) else Predictor.load(Path(bundle), backend=backend)
    for number, text in enumerate(texts, start=1):
        problem = text_problem(text)
        if problem:
            raise ConfigError(f"text {number} {problem}")
    if method == "occlusion":
        from .occlusion import occlusion_texts

        return occlusion_texts(predictor, texts, text_pairs, target)
    if predictor.task.tags_words:
        if text_pairs or target:
            raise ConfigError("entity explanations take single texts and explain every predicted entity "
                              "(no --text-pair or --target)")
        from .attributions import _check_steps
        from .entities import explain_entities

        _check_steps(steps)
        return explain_entities(predictor, texts, steps)
    from .attributions import explain_texts

    return explain_texts(predictor, texts, text_pairs, target, steps)
