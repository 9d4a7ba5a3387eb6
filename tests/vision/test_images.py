"""Images as untrusted input: IDX files, and one-line errors for images that are not, are cut short, or
are too large to decode."""

from __future__ import annotations

import gzip
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tuneforge.errors import DataError
from tuneforge.vision.images import grey_to_rgb, open_image, read_idx

from ..conftest import ROOT

FASHION = ROOT.parent / "shared" / "data" / "fashion-mnist"


def idx_bytes(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape) + array.tobytes()


def test_idx_files_read_plain_or_gzipped_and_a_lying_header_is_refused(tmp_path):
    pixels = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.idx").write_bytes(idx_bytes(pixels))
    (tmp_path / "a.idx.gz").write_bytes(gzip.compress(idx_bytes(pixels)))
    assert np.array_equal(read_idx(tmp_path / "a.idx"), pixels)
    assert np.array_equal(read_idx(tmp_path / "a.idx.gz"), pixels)
    (tmp_path / "short.idx").write_bytes(idx_bytes(pixels)[:-1])
    with pytest.raises(DataError, match=r"short.idx: the IDX header says \(2, 3, 4\)"):
        read_idx(tmp_path / "short.idx")
    (tmp_path / "text.idx").write_text("label,text\n")
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(tmp_path / "text.idx")


@pytest.mark.skipif(not FASHION.is_dir(), reason="needs ../shared/data/fashion-mnist")
def test_fashion_mnist_reads_as_the_readme_says():
    images = read_idx(FASHION / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(FASHION / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert set(np.unique(labels)) == set(range(10))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's calling card)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) \
        + chunk(b"IEND", b"")


def test_bad_images_each_get_one_line_that_names_the_file(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (tmp_path / "notes.png").write_text("this is not a picture")
    (tmp_path / "bomb.png").write_bytes(png_header_only(20_000, 20_000))
    with pytest.raises(DataError, match=r"cut.jpg: truncated or corrupt image"):
        open_image(tmp_path / "cut.jpg")
    with pytest.raises(DataError, match=r"notes.png: not an image Pillow can read"):
        open_image(tmp_path / "notes.png")
    with pytest.raises(DataError, match=r"bomb.png: (20000 x 20000 pixels, over the limit|more pixels than the limit)"):
        open_image(tmp_path / "bomb.png")
    with pytest.raises(DataError, match=r"upload: 300 x 300 pixels, over the limit of 10,000"):
        open_image(png_header_only(300, 300), where="upload", max_pixels=10_000)  # checked before decoding
    with pytest.raises(DataError, match="over the 10-byte limit"):
        open_image(buffer.getvalue(), max_bytes=10)


def test_a_grey_image_comes_out_rgb(tmp_path):
    Image.fromarray(np.full((5, 7), 200, dtype=np.uint8), mode="L").save(tmp_path / "grey.png")
    image = open_image(tmp_path / "grey.png")
    assert image.mode == "RGB" and image.size == (7, 5) and np.asarray(image)[0, 0].tolist() == [200, 200, 200]
    assert grey_to_rgb(np.zeros((2, 3), dtype=np.uint8)).shape == (2, 3, 3)


def test_the_mistakes_grid_shows_the_most_confident_wrong_images_escaped():
    from tuneforge.vision.processor import ImageProcessor
    from tuneforge.vision.thumbnails import mistakes_grid

    pixels = np.full((28, 28), 120, dtype=np.uint8)
    examples = [{"pixels": pixels, "label": "Coat", "text": f"img <{i}>"} for i in range(3)]
    predictions = [{"label": "Shirt", "score": 0.6}, {"label": "Coat", "score": 0.99}, {"label": "Bag", "score": 0.9}]
    page = mistakes_grid(examples, predictions, ImageProcessor())
    assert page.count('src="data:image/png;base64,') == 2 and "2 of 3 images are wrong" in page
    assert page.index("img &lt;2&gt;") < page.index("img &lt;0&gt;")  # most confident first, text escaped
    assert "<2>" not in page
    assert "No mistakes" in mistakes_grid(examples[1:2], predictions[1:2], ImageProcessor())
