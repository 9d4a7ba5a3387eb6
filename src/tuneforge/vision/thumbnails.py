"""The report's grid of the most confident mistakes of an image classifier: each image as a small
embedded PNG with its true and predicted labels and the confidence (all text HTML-escaped).

Example:
    >>> html = mistakes_grid(examples, predictions, processor)
"""

from __future__ import annotations

import base64
import io
from html import escape
from typing import Any

TOP = 24
SIZE = 96  # pixels of each thumbnail's longer side


def _thumbnail(example: dict[str, Any], processor) -> str:
    from PIL import Image

    image = processor.image(example)
    image.thumbnail((SIZE, SIZE), Image.NEAREST if max(image.size) < SIZE else Image.BILINEAR)
    if max(image.size) < SIZE:  # tiny images (28x28) scaled up so a reader can see them
        factor = SIZE // max(image.size)
        image = image.resize((image.size[0] * factor, image.size[1] * factor), Image.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def mistakes_grid(examples: list[dict[str, Any]], predictions: list[dict[str, Any]], processor) -> str:
    """HTML: the ``TOP`` wrong predictions the model was most sure of, as thumbnails with their labels."""
    wrong = sorted(((p.get("score") or 0.0, i) for i, (e, p) in enumerate(zip(examples, predictions))
                    if p["label"] != e["label"]), reverse=True)
    if not wrong:
        return '<p class="note">No mistakes: every image was classified correctly.</p>'
    cells = []
    for score, i in wrong[:TOP]:
        example, prediction = examples[i], predictions[i]
        cells.append(
            '<figure style="display:inline-block;margin:4px;width:120px;vertical-align:top;font-size:12px">'
            f'<img src="{_thumbnail(example, processor)}" alt="{escape(str(example.get("text", "")))}">'
            f'<figcaption>{escape(str(example.get("text", "")))}<br>true <b>{escape(str(example["label"]))}</b>'
            f'<br>predicted <b>{escape(str(prediction["label"]))}</b> ({score:.2f})</figcaption></figure>')
    note = (f'<p class="note">{len(wrong):,} of {len(examples):,} images are wrong; the '
            f"{min(len(wrong), TOP)} the model was most sure of, most sure first.</p>")
    return note + "<div>" + "".join(cells) + "</div>"
