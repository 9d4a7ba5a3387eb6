"""The packaged EfficientNet-Lite0: read only with weights_only=True, converted to safetensors, and it
sees what ImageNet weights should see in scikit-learn's sample photos."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from tuneforge.errors import ConfigError
from tuneforge.vision import efficientnet_lite as lite


class Payload:
    def __reduce__(self):  # what a malicious pickle does: run code while it is read
        import os

        return (os.system, (f"touch {self.marker}",))


def test_a_pickle_with_a_code_payload_is_refused_and_its_code_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = Payload()
    payload.marker = marker
    crafted = tmp_path / "model.pth"  # where a user's model folder would keep its weights
    crafted.write_bytes(pickle.dumps({"weight": payload}))
    with pytest.raises(ConfigError, match="refused: not a plain file of tensors"):
        lite.load_pickled_weights(crafted, expected_sha256=None)
    assert not marker.exists()
    with pytest.raises(ConfigError, match="sha256 differs from the pinned"):
        lite.load_pickled_weights(crafted)  # and the packaged file is checked against its pinned hash first


def test_the_packaged_weights_are_read_with_weights_only_and_converted(monkeypatch, tmp_path):
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path))
    calls = []
    original = torch.load

    def recording_load(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", recording_load)
    folder = lite.efficientnet_lite0_folder()
    assert calls == [True]
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*.pth"))
    assert lite.efficientnet_lite0_folder() == folder and calls == [True]  # converted once


def test_imagenet_weights_with_half_scaling_see_a_bell_cote_and_a_daisy():
    from PIL import Image
    from safetensors.torch import load_file
    from sklearn.datasets import load_sample_image

    folder = lite.efficientnet_lite0_folder()
    model = lite.ImageClassifier.from_folder(folder, num_labels=1000, image_size=224)
    head = load_file(str(folder / "model.safetensors"))
    model.classifier.load_state_dict({"weight": head["_fc.weight"], "bias": head["_fc.bias"]})
    model.eval()

    def pixels(name):
        image = Image.fromarray(load_sample_image(name)).resize((224, 224), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)
        return (x - torch.tensor(lite.MEAN)[:, None, None]) / torch.tensor(lite.STD)[:, None, None]

    with torch.no_grad():
        top = model(torch.stack([pixels("china.jpg"), pixels("flower.jpg")])).logits.argmax(-1).tolist()
    assert top == [442, 985]  # ImageNet's bell cote and daisy
    assert sum(p.numel() for p in model.parameters()) == 4_652_008


def test_a_new_head_and_another_image_size_train(tmp_path):
    model = lite.ImageClassifier.from_folder(lite.efficientnet_lite0_folder(), num_labels=3, image_size=64)
    out = model(torch.randn(2, 3, 64, 64), labels=torch.tensor([0, 2]))
    assert out.logits.shape == (2, 3) and out.loss.requires_grad


def test_an_image_model_folder_with_a_pickle_payload_is_refused_before_anything_loads(tmp_path):
    from tuneforge import api
    from tuneforge.config import build_config

    marker = tmp_path / "pwned"
    payload = Payload()
    payload.marker = marker
    folder = tmp_path / "my-image-model"  # what a user passes as model.name for an image task
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "resnet", "architectures": ["ResNetForImageClassification"]}')
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": payload}))
    images = tmp_path / "images"
    for label in ("a", "b"):
        (images / label).mkdir(parents=True)
        for i in range(3):
            from PIL import Image

            Image.fromarray(np.full((8, 8), 60 * i, np.uint8)).save(images / label / f"{i}.png")
    cfg = build_config({"data": {"train": str(images)}, "model": {"name": str(folder)},
                        "output": {"dir": str(tmp_path / "run")}})
    with pytest.raises(ConfigError, match="pytorch_model.bin: TuneForge loads safetensors weights only"):
        api.train(cfg)
    assert not marker.exists()
