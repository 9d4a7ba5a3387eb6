"""The server with an image bundle: base64 images in JSON and multipart/form-data uploads; bad,
truncated and oversized images get a 4xx with the documented message, never a 5xx."""

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


def test_multipart_uploads_classify_as_json_does_and_bad_uploads_get_a_4xx(image_server):
    server, _, tmp = image_server
    paths = sorted((tmp / "digits").rglob("*.png"))[:3]
    by_json = httpx.post(server.url + "/v1/predict", json={"images": [b64(p.read_bytes()) for p in paths]},
                         timeout=30).json()["predictions"]
    by_upload = httpx.post(server.url + "/v1/predict", timeout=30,
                           files=[("images", (p.name, p.read_bytes(), "image/png")) for p in paths])
    assert by_upload.status_code == 200, by_upload.text
    assert [p["label"] for p in by_upload.json()["predictions"]] == [p["label"] for p in by_json]
    good = paths[0].read_bytes()
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(buffer, format="JPEG")
    cases = {
        "text named .png": ({"image": ("a.png", b"just some text")}, None, 422, "not an image Pillow can read"),
        "truncated JPEG": ({"image": ("a.jpg", buffer.getvalue()[:400])}, None, 422, "truncated or corrupt"),
        "20,000 x 20,000 PNG": ({"image": ("big.png", png_header_only(20_000, 20_000))}, None, 422, "pixels"),
        "a text field": ({"image": ("a.png", good)}, {"image": "not a file"}, 422, "not a file"),
        "another field name": ({"photo": ("a.png", good)}, None, 422, "fields named 'image' or 'images'"),
        "too many files": ([("images", ("a.png", good))] * 70, None, 422, "the limit is"),
        "over the byte limit": ({"image": ("a.png", b"\0" * 1_100_000)}, None, 413, "over"),
    }
    for name, (files, data, status, message) in cases.items():
        answer = httpx.post(server.url + "/v1/predict", files=files, data=data, timeout=30)
        assert answer.status_code == status, (name, answer.status_code, answer.text)
        assert message in answer.text, (name, answer.text)
    broken = httpx.post(server.url + "/v1/predict", content=b"--x\r\nnot a form", timeout=30,
                        headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert broken.status_code == 422, broken.text
    assert httpx.post(server.url + "/v1/predict", files={"image": ("a.png", good)}, timeout=30).status_code == 200
