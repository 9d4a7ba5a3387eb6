"""Image predict requests: ``{"image": "<base64>"}`` or ``{"images": [...]}`` in a JSON body, each
image checked before it is decoded (base64 alphabet, bytes, pixels from the header), so a bad or
oversized upload gets a 4xx and never costs the server more than its limits.

Example:
    >>> examples_or_error = images_from_body({"image": b64png}, max_images=16, max_image_bytes=2_000_000)
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from ..errors import DataError
from ..vision.images import open_image

MAX_PIXELS = 16_000_000  # per uploaded image (width x height), read from its header before decoding


class TooLarge(Exception):
    """An upload over the byte limit: the caller answers 413."""


def images_from_body(body: Any, max_images: int, max_image_bytes: int, max_pixels: int = MAX_PIXELS
                     ) -> list[dict[str, Any]] | str:
    """Decoded images as examples (``pixels`` + a name), or the message of a 422; raises ``TooLarge``."""
    if not isinstance(body, dict) or set(body) - {"image", "images"} or ("image" in body) == ("images" in body):
        return "this model classifies images: send {\"image\": \"<base64>\"} or {\"images\": [...]}"
    encoded = [body["image"]] if "image" in body else body["images"]
    if not isinstance(encoded, list) or not encoded or not all(isinstance(e, str) for e in encoded):
        return "'image' must be a base64 string, 'images' a non-empty list of them"
    if len(encoded) > max_images:
        return f"{len(encoded)} images in one request; the limit is {max_images}"
    examples = []
    for i, text in enumerate(encoded):
        if len(text) * 3 // 4 > max_image_bytes:
            raise TooLarge(f"image {i} is over {max_image_bytes:,} bytes")
        try:
            data = base64.b64decode(text.split(",", 1)[1] if text.startswith("data:") else text, validate=True)
        except (binascii.Error, ValueError):
            return f"image {i} is not valid base64"
        try:
            image = open_image(data, where=f"image {i}", max_pixels=max_pixels, max_bytes=max_image_bytes)
        except DataError as exc:
            return str(exc)
        examples.append({"pixels": np.asarray(image), "text": f"image {i}", "where": f"image {i}"})
    return examples
