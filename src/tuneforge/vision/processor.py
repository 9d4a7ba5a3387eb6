"""Turning images into model inputs, with Pillow and NumPy (torchvision does not load beside this
project's CPU build of torch): resize to a square ``image_size``, scale with the backbone's mean and
standard deviation; for training, optional augmentation (random resized crop, horizontal flip,
brightness and contrast jitter), drawn from a seeded generator. Evaluation is deterministic.

The processor is the image task's counterpart of a tokenizer: the bundle keeps it (``image_processor.json``)
so prediction prepares images exactly as training did.

Example:
    >>> processor = ImageProcessor(image_size=96)
    >>> processor.pixels([example_a, example_b]).shape
    torch.Size([2, 3, 96, 96])
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BundleError
from .images import grey_to_rgb, open_image

FILE = "image_processor.json"


class ImageProcessor:
    """Resize + scale (+ augmentation for training) for images given as arrays or paths."""

    def __init__(self, image_size: int = 224, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), augment: bool = False,
                 max_pixels: int | None = None) -> None:
        self.image_size, self.augment = int(image_size), bool(augment)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.max_pixels = max_pixels

    def image(self, example: dict[str, Any]):
        """The example's image as a Pillow RGB image (decoded from ``path`` with limits, or from ``pixels``)."""
        from PIL import Image

        if example.get("pixels") is not None:
            return Image.fromarray(grey_to_rgb(np.asarray(example["pixels"], dtype=np.uint8)), mode="RGB")
        kwargs = {"max_pixels": self.max_pixels} if self.max_pixels else {}
        return open_image(example["path"], where=example.get("where"), **kwargs)

    def _augmented(self, image, rng: np.random.Generator):
        from PIL import Image, ImageEnhance

        width, height = image.size
        scale, ratio = rng.uniform(0.75, 1.0), np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        w = int(round(min(width, np.sqrt(scale * width * height * ratio))))
        h = int(round(min(height, np.sqrt(scale * width * height / ratio))))
        left, top = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
        image = image.crop((left, top, left + w, top + h)).resize((self.image_size,) * 2, Image.BILINEAR)
        if rng.random() < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.8, 1.2))
        return ImageEnhance.Contrast(image).enhance(rng.uniform(0.8, 1.2))

    def array(self, example: dict[str, Any], rng: np.random.Generator | None = None) -> np.ndarray:
        """One image as a ``3 x S x S`` float array (augmented when ``rng`` is given and ``augment`` is on)."""
        from PIL import Image

        image = self.image(example)
        if rng is not None and self.augment:
            image = self._augmented(image, rng)
        else:
            image = image.resize((self.image_size,) * 2, Image.BILINEAR)
        pixels = np.asarray(image, dtype=np.float32) / 255.0
        return ((pixels - self.mean) / self.std).transpose(2, 0, 1)

    def pixels(self, examples: list[dict[str, Any]]):
        """A batch of examples as a ``N x 3 x S x S`` tensor (deterministic: no augmentation)."""
        import torch

        return torch.from_numpy(np.stack([self.array(e) for e in examples]))

    def save_pretrained(self, folder: str | Path) -> None:
        """Write ``image_processor.json`` (what Trainer and the bundle call on a tokenizer)."""
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / FILE).write_text(json.dumps({"image_size": self.image_size, "mean": self.mean.tolist(),
                                                     "std": self.std.tolist(), "augment": self.augment}, indent=2),
                                         encoding="utf-8")

    @classmethod
    def from_pretrained(cls, folder: str | Path, error=BundleError) -> "ImageProcessor":
        """Read ``image_processor.json``, checked: a size of 8 to 1024 pixels, three positive scales."""
        path = Path(folder) / FILE
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            size, mean, std = int(raw["image_size"]), [float(v) for v in raw["mean"]], [float(v) for v in raw["std"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise error(f"{path}: not a valid image processor file ({type(exc).__name__})") from None
        if not 8 <= size <= 1024 or len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise error(f"{path}: image_size {size}, mean {mean}, std {std} are out of range")
        return cls(size, mean, std, bool(raw.get("augment", False)))
