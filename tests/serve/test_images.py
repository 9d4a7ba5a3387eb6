"""The server with an image bundle: base64 images in JSON; bad, truncated and oversized images get a 4xx
with the documented message, never a 5xx."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tuneforge import api
from tuneforge.predictor import Predictor

from ..tasks.test_image_classification import config, image_folder
from ..vision.test_images import png_header_only
from .conftest import Server, httpx


@pytest.fixture(scope="module")
def image_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("image-serve")
    result = api.train(config(image_folder(tmp / "digits"), tmp))
    server = Server(result.bundle_dir, log_dir=tmp)
    yield server, result.bundle_dir, tmp
    server.stop()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def test_a_base64_image_is_classified_as_the_bundle_does_in_process(image_server):
    server, bundle, tmp = image_server
    path = next((tmp / "digits" / "digit-7").glob("*.png"))
    answer = httpx.post(server.url + "/v1/predict", json={"images": [b64(path.read_bytes())]}, timeout=30)
    assert answer.status_code == 200, answer.text
    served = answer.json()["predictions"][0]
    local = Predictor.load(bundle).predict([{"path": str(path), "where": "x"}])[0]
    assert served["label"] == local["label"] and served["score"] == pytest.approx(local["score"], abs=1e-5)


def test_bad_images_get_the_documented_4xx_and_the_server_keeps_serving(image_server):
    server, _, tmp = image_server
    good = next((tmp / "digits" / "digit-0").glob("*.png")).read_bytes()
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    cases = {
        "text named .png": ({"image": b64(b"just some text")}, 422, "not an image Pillow can read"),
        "truncated JPEG": ({"image": b64(buffer.getvalue()[:400])}, 422, "truncated or corrupt image"),
        "20,000 x 20,000 PNG": ({"image": b64(png_header_only(20_000, 20_000))}, 422, "pixels"),
        "not base64": ({"image": "%%%"}, 422, "not valid base64"),
        "a text body": ({"text": "a shoe"}, 422, "this model classifies images"),
        "over the body limit": ({"image": "A" * 1_200_000}, 413, ""),
    }
    for name, (body, status, message) in cases.items():
        answer = httpx.post(server.url + "/v1/predict", json=body, timeout=30)
        assert answer.status_code == status, (name, answer.status_code, answer.text)
        assert message in answer.text, (name, answer.text)
    assert httpx.post(server.url + "/v1/predict", json={"image": b64(good)}, timeout=30).status_code == 200
