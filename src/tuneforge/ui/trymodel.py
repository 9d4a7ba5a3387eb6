"""Try a model: load a bundle once (``Predictor.load``, kept for the next request), predict a text, a text
pair, an image or a chat turn, and shape the answer for the page: labels with scores, entities as
highlighted spans of the text, and word attributions (``tuneforge.api.explain``) where the bundle's task
has them.

Example:
    >>> shown = predict_text(predictors.get(Path("runs/demo/bundle")), "where is my parcel?")
    >>> shown["label"], shown["scores"][0]
    ('shipping', ('shipping', 0.93))
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..errors import ConfigError, TuneForgeError

MAX_TEXT_CHARS = 5000
MAX_IMAGE_BYTES = 10 * 2**20
MAX_CHAT_TURNS = 20
SHADES = 5  # attribution strength classes (CSS: pos-1..pos-5, neg-1..neg-5)


class PredictorCache:
    """The last few loaded bundles (loading one takes seconds); reloaded when its manifest changes."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self.items: OrderedDict[tuple[str, float], Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, bundle: Path):
        """The predictor of ``bundle`` (loaded, or from the cache)."""
        from ..predictor import Predictor

        try:
            stamp = (bundle / "tuneforge.json").stat().st_mtime
        except OSError:
            raise ConfigError(f"{bundle.name}: not a bundle (no tuneforge.json)") from None
        key = (str(bundle.resolve()), stamp)
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
            predictor = Predictor.load(bundle)
            self.items[key] = predictor
            while len(self.items) > self.size:
                self.items.popitem(last=False)
            return predictor


def kind_of(predictor) -> str:
    """How the page lets you try this bundle: ``image`` (upload), ``chat`` (generation), ``pair`` (two texts)
    or ``text``, from what the task declares."""
    task = predictor.task
    if task.reads_images:
        return "image"
    if task.generates_text:
        return "chat"
    if task.reads_text_pairs or predictor.manifest.data.text_pair_column:
        return "pair"
    return "text"


def _checked(text: str, what: str) -> str:
    from ..data.text import text_problem

    text = (text or "").strip()
    if not text:
        raise ConfigError(f"type a {what}")
    if len(text) > MAX_TEXT_CHARS:
        raise ConfigError(f"the {what} is over {MAX_TEXT_CHARS} characters")
    problem = text_problem(text)
    if problem:
        raise ConfigError(f"the {what} {problem}")
    return text


def segments(text: str, entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``text`` cut into plain pieces and entity pieces (type and score), in order, for highlighting."""
    pieces, at = [], 0
    spans = sorted((e for e in entities if isinstance(e.get("start"), int) and isinstance(e.get("end"), int)),
                   key=lambda e: e["start"])
    for entity in spans:
        start, end = max(entity["start"], at), min(entity["end"], len(text))
        if start >= end:
            continue
        if start > at:
            pieces.append({"text": text[at:start]})
        pieces.append({"text": text[start:end], "type": str(entity.get("type") or entity.get("label") or ""),
                       "score": entity.get("score")})
        at = end
    if at < len(text):
        pieces.append({"text": text[at:]})
    return pieces


def shaped(prediction: dict[str, Any], text: str) -> dict[str, Any]:
    """A prediction as the page shows it: the label and its score, the scores best first (at most 10), a
    value or values, entity highlights, an answer, and anything else as key/value pairs."""
    shown: dict[str, Any] = {"label": None, "score": None, "scores": [], "values": [], "segments": [],
                             "answer": None, "other": []}
    if "label" in prediction:
        shown["label"] = prediction["label"] if not isinstance(prediction["label"], list) else \
            ", ".join(map(str, prediction["label"]))
        shown["score"] = prediction.get("score")
    if "labels" in prediction and shown["label"] is None:
        shown["label"] = ", ".join(map(str, prediction["labels"])) or "(none)"
    scores = prediction.get("scores")
    if isinstance(scores, dict):
        shown["scores"] = sorted(((str(k), float(v)) for k, v in scores.items()
                                  if isinstance(v, (int, float))), key=lambda kv: -kv[1])[:10]
    if isinstance(prediction.get("values"), dict):
        shown["values"] = [(str(k), v) for k, v in prediction["values"].items()]
    elif isinstance(prediction.get("value"), (int, float)):
        shown["values"] = [("value", prediction["value"])]
    if isinstance(prediction.get("entities"), list):
        shown["segments"] = segments(text, prediction["entities"])
    if "answer" in prediction:
        shown["answer"] = prediction["answer"]
    known = {"label", "labels", "score", "scores", "value", "values", "entities", "answer", "text", "text_pair",
             "tokens", "tags"}
    shown["other"] = [(k, v) for k, v in prediction.items() if k not in known][:20]
    return shown


def explanation(predictor, text: str, pair: str | None = None) -> dict[str, Any]:
    """Word attributions for the page: ``words`` as (word, shade class, attribution) or ``problem``, the reason
    there is none (a task without explanations, or Captum missing for integrated gradients)."""
    from .. import api

    try:
        import captum  # noqa: F401  (integrated gradients; occlusion needs nothing extra)

        how = "integrated_gradients"
    except ImportError:
        how = "occlusion"
    try:
        result = api.explain(predictor, [text], [pair] if pair else None, steps=32, method=how)[0]
    except TuneForgeError as exc:
        return {"problem": str(exc), "words": []}
    except (RuntimeError, ValueError, IndexError, KeyError, TypeError) as exc:  # a model explanations cannot walk
        return {"problem": f"no explanation for this model ({type(exc).__name__})", "words": []}
    words = result.get("words") or []
    top = max((abs(float(w.get("attribution", 0.0))) for w in words), default=0.0) or 1.0
    shown = []
    for word in words:
        value = float(word.get("attribution", 0.0))
        shade = max(1, min(SHADES, round(SHADES * abs(value) / top))) if value else 0
        shown.append((str(word.get("word", "")), f"{'pos' if value >= 0 else 'neg'}-{shade}", value))
    return {"problem": "", "words": shown, "method": how.replace("_", " "), "target": result.get("target")}


def predict_text(predictor, text: str, pair: str | None = None, explain: bool = False) -> dict[str, Any]:
    """Predict one text (or pair) and shape the answer; with ``explain``, word attributions too."""
    kind = kind_of(predictor)
    if kind in ("image", "chat"):
        raise ConfigError("this bundle " + ("classifies images: upload one" if kind == "image" else
                                            "generates text: use the chat"))
    text = _checked(text, "text")
    pair = _checked(pair, "second text") if kind == "pair" else None
    prediction = predictor.predict([{"text": text, "text_pair": pair}])[0]
    shown = shaped(prediction, text)
    shown["text"] = text
    if explain:
        shown["explanation"] = explanation(predictor, text, pair)
    return shown


def predict_image(predictor, data: bytes, name: str) -> dict[str, Any]:
    """Predict one uploaded image (checked by the image reader's byte and pixel limits)."""
    import numpy as np

    from ..vision.images import open_image

    if len(data) > MAX_IMAGE_BYTES:
        raise ConfigError(f"the image is over {MAX_IMAGE_BYTES / 2**20:.0f} MB")
    image = open_image(data, where=name, max_bytes=MAX_IMAGE_BYTES)
    prediction = predictor.predict([{"pixels": np.asarray(image), "text": name, "where": name}])[0]
    return {**shaped(prediction, name), "text": name}


def chat_turn(predictor, history: list[dict[str, str]], message: str, max_new_tokens: int = 128) -> list[dict[str, str]]:
    """The conversation with the user's ``message`` and the bundle's answer appended."""
    from ..generation.session import decoding_for, generate

    message = _checked(message, "message")
    turns = [t for t in history if isinstance(t, dict) and t.get("role") in ("user", "assistant")
             and isinstance(t.get("content"), str)][-2 * MAX_CHAT_TURNS:]
    turns = [{"role": t["role"], "content": t["content"][:MAX_TEXT_CHARS]} for t in turns]
    conversation = turns + [{"role": "user", "content": message}]
    answer = generate(predictor, [conversation], decoding_for(predictor, max_new_tokens=max_new_tokens))[0]
    return conversation + [{"role": "assistant", "content": answer.text}]
