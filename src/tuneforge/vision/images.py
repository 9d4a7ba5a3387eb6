"""Reading images as untrusted input: one-line errors that name the file, limits on bytes and pixels
(decompression bombs are refused before any pixel is decoded), and MNIST-style IDX files.

Example:
    >>> pixels = read_idx("../shared/data/fashion-mnist/t10k-images-idx3-ubyte.gz")
    >>> pixels.shape, pixels.dtype
    ((10000, 28, 28), dtype('uint8'))
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np

from ..errors import DataError

MAX_PIXELS = 40_000_000  # width x height an image may have (a 20,000 x 20,000 PNG is ten times that)
MAX_IMAGE_BYTES = 50_000_000
MAX_IDX_BYTES = 2_000_000_000
IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (the MNIST format: gzipped or not) as an array; its header must agree with its size."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path.absolute()}: file not found")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            with gzip.open(io.BytesIO(raw)) as handle:
                raw = handle.read(MAX_IDX_BYTES + 1)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: not a readable gzip file ({exc})") from None
        if len(raw) > MAX_IDX_BYTES:
            raise DataError(f"{path}: over {MAX_IDX_BYTES:,} bytes once decompressed; refusing it")
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES or not 1 <= raw[3] <= 4:
        raise DataError(f"{path}: not an IDX file (the header should be 0 0 <type> <dimensions>)")
    ndim, dtype = raw[3], np.dtype(IDX_TYPES[raw[2]])
    if len(raw) < 4 + 4 * ndim:
        raise DataError(f"{path}: the IDX header is cut short")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = 4 + 4 * ndim + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(f"{path}: the IDX header says {shape} values ({expected:,} bytes) but the file holds "
                        f"{len(raw):,} bytes")
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(shape)


def open_image(source: str | Path | bytes, where: str | None = None, max_pixels: int = MAX_PIXELS,
               max_bytes: int = MAX_IMAGE_BYTES):
    """A Pillow image in RGB (grey and palette images expanded, alpha dropped), fully decoded.

    ``source`` is a path or the file's bytes; ``where`` names it in errors. Raises ``DataError`` for a
    file that is not an image, is truncated, or is larger than ``max_bytes`` or ``max_pixels`` (checked
    from the header, before decoding)."""
    from PIL import Image, UnidentifiedImageError

    name = where or (str(source) if not isinstance(source, bytes) else "image")
    if isinstance(source, bytes):
        data = source
    else:
        path = Path(source)
        if not path.is_file():
            raise DataError(f"{path.absolute()}: file not found")
        if path.stat().st_size > max_bytes:
            raise DataError(f"{name}: {path.stat().st_size:,} bytes, over the {max_bytes:,}-byte limit for an image")
        data = path.read_bytes()
    if len(data) > max_bytes:
        raise DataError(f"{name}: {len(data):,} bytes, over the {max_bytes:,}-byte limit for an image")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise DataError(f"{name}: not an image Pillow can read (PNG, JPEG, GIF, BMP, WebP, TIFF...)") from None
    except Image.DecompressionBombError:
        raise DataError(f"{name}: more pixels than the limit of {max_pixels:,}; refusing to decode it") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"{name}: truncated or corrupt image ({exc})") from None
    width, height = image.size
    if width * height > max_pixels:
        raise DataError(f"{name}: {width} x {height} pixels, over the limit of {max_pixels:,}; refusing to decode it")
    try:
        image.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{name}: truncated or corrupt image ({exc})") from None
    return image.convert("RGB")


def grey_to_rgb(pixels: np.ndarray) -> np.ndarray:
    """``H x W`` grey pixels as ``H x W x 3`` (the channel repeated); RGB arrays unchanged."""
    return np.repeat(pixels[..., None], 3, axis=-1) if pixels.ndim == 2 else pixels
