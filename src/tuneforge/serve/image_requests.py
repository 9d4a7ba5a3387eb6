"""Image predict requests: ``{"image": "<base64>"}`` or ``{"images": [...]}`` in a JSON body, or files
in a ``multipart/form-data`` upload (fields ``image`` or ``images``). Each image is checked before it is
decoded (base64 alphabet, bytes, pixels from the header), so a bad or oversized upload gets a 4xx and
never costs the server more than its limits.

Example:
    >>> examples_or_error = images_from_body({"image": b64png}, max_images=16, max_image_bytes=2_000_000)
    >>> examples_or_error = await images_from_form(request, max_images=16, max_image_bytes=2_000_000)
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
        example = _decoded(data, f"image {i}", max_image_bytes, max_pixels)
        if isinstance(example, str):
            return example
        examples.append(example)
    return examples


def _decoded(data: bytes, name: str, max_image_bytes: int, max_pixels: int) -> dict[str, Any] | str:
    """One uploaded image as an example, or the message of a 422; raises ``TooLarge``."""
    if len(data) > max_image_bytes:
        raise TooLarge(f"{name} is over {max_image_bytes:,} bytes")
    try:
        image = open_image(data, where=name, max_pixels=max_pixels, max_bytes=max_image_bytes)
    except DataError as exc:
        return str(exc)
    return {"pixels": np.asarray(image), "text": name, "where": name}


async def images_from_form(request, max_images: int, max_image_bytes: int, max_pixels: int = MAX_PIXELS
                           ) -> list[dict[str, Any]] | str:
    """The files of a ``multipart/form-data`` request (fields ``image`` or ``images``, at most
    ``max_images``, no other fields) as examples, or the message of a 422; raises ``TooLarge``. The
    body must already be read and size-checked (``await request.body()``): the parser reads that copy."""
    try:
        from starlette.formparsers import MultiPartException, MultiPartParser
    except ImportError:  # pragma: no cover - starlette ships with fastapi
        return "multipart uploads need starlette"
    try:
        import python_multipart  # noqa: F401  (starlette's parser needs it)
    except ImportError:
        return "this server cannot read multipart uploads (pip install python-multipart==0.0.34); send JSON"
    parser = MultiPartParser(request.headers, request.stream(), max_files=max_images, max_fields=max_images,
                             max_part_size=4096)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        if exc.message.startswith("Too many files"):
            return f"more than {max_images} images in one request; the limit is {max_images}"
        return f"the upload is not valid multipart/form-data: {exc.message}"
    try:
        fields = form.multi_items()
        if not fields or any(key not in ("image", "images") for key, _ in fields):
            return "upload the images as files in form fields named 'image' or 'images'"
        if len(fields) > max_images:
            return f"{len(fields)} images in one request; the limit is {max_images}"
        examples = []
        for i, (_, upload) in enumerate(fields):
            if isinstance(upload, str):
                return f"form field {i} is text, not a file: upload the image file itself"
            name = f"image {i} ({str(upload.filename or '')[:100]})" if upload.filename else f"image {i}"
            example = _decoded(await upload.read(max_image_bytes + 1), name, max_image_bytes, max_pixels)
            if isinstance(example, str):
                return example
            examples.append(example)
        return examples
    finally:
        await form.close()
