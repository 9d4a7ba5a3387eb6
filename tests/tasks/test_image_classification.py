"""Image classification end to end on scikit-learn's digits (8x8, upscaled), with the packaged
EfficientNet-Lite0: image folders, IDX files and CSV tables of paths; bad images; reload and predict."""

from __future__ import annotations

import gzip
import re
import struct

import numpy as np
import pytest
from PIL import Image

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.errors import ConfigError, DataError
from tuneforge.predictor import Predictor

CLASSES = (0, 1, 7)


def digits(per_class: int = 12):
    from sklearn.datasets import load_digits

    data = load_digits()
    picked = [(img, int(t)) for img, t in zip(data.images, data.target) if t in CLASSES]
    out = []
    for label in CLASSES:
        out += [(np.uint8(img * 255 / 16), t) for img, t in picked if t == label][:per_class]
    return out


def image_folder(root):
    for i, (pixels, label) in enumerate(digits()):
        (root / f"digit-{label}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels, mode="L").save(root / f"digit-{label}" / f"{i}.png")
    return root


def config(train, tmp_path, **task):
    return build_config({"data": {"train": str(train), "split": {"validation": 0.2, "test": 0.2, "seed": 0}},
                         "task": {"image_size": 32, **task},
                         "train": {"epochs": 3, "batch_size": 8, "learning_rate": 1e-3, "report_to": [],
                                   "logging_steps": 2},
                         "output": {"dir": str(tmp_path / "run")}})


def test_an_image_folder_trains_without_a_task_type_and_its_bundle_predicts_the_same(tmp_path):
    cfg = config(image_folder(tmp_path / "digits"), tmp_path)
    assert cfg.task.type == "image_classification"  # a folder of class folders names the task
    result = api.train(cfg)
    assert result.predictor.label_names == ["digit-0", "digit-1", "digit-7"]
    assert {"accuracy", "macro_f1", "confusion_matrix", "baseline"} <= set(result.metrics)
    reloaded = Predictor.load(result.bundle_dir)
    examples = [{"path": str(p), "text": p.name, "where": str(p)} for p in sorted((tmp_path / "digits").rglob("*.png"))]
    ours, theirs = result.predictor.predict(examples[:6]), reloaded.predict(examples[:6])
    assert [p["label"] for p in ours] == [p["label"] for p in theirs]
    for a, b in zip(ours, theirs):
        assert a["score"] == pytest.approx(b["score"], abs=1e-5)
    assert (result.bundle_dir / "model" / "image_processor.json").is_file()
    page = (result.run_dir / "report.html").read_text()
    assert "Confusion" in page
    if result.metrics["accuracy"] < 1:  # the most confident mistakes as thumbnails with their labels
        assert 'src="data:image/png;base64,' in page.split('id="mistakes"')[1] and "predicted <b>" in page


def idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape) + array.tobytes()


def test_idx_files_with_named_labels_train(tmp_path):
    pairs = digits()
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx(np.stack([p for p, _ in pairs]))))
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx(np.array([CLASSES.index(t) for _, t in pairs], dtype=np.uint8))))
    cfg = config(tmp_path / "train-images-idx3-ubyte.gz", tmp_path)
    cfg = build_config({**cfg.model_dump(mode="json"), "data": {**cfg.data.model_dump(mode="json"),
                                                                "label_names": ["zero", "one", "seven"]}})
    result = api.train(cfg)
    assert result.predictor.label_names == ["zero", "one", "seven"] and result.metrics["n"] == 8  # 20% of 36


def test_a_table_of_image_paths_trains_and_paths_may_not_leave_its_folder(tmp_path):
    image_folder(tmp_path / "imgs")
    rows = [f"imgs/{p.parent.name}/{p.name},{p.parent.name}" for p in sorted((tmp_path / "imgs").rglob("*.png"))]
    (tmp_path / "images.csv").write_text("image,label\n" + "\n".join(rows) + "\n")
    assert api.train(config(tmp_path / "images.csv", tmp_path, type="image_classification")).metrics["n"] == 8
    (tmp_path / "escape.csv").write_text("image,label\n../../etc/passwd,a\n" + "\n".join(rows) + "\n")
    with pytest.raises(DataError, match="must be relative to .* and stay inside it"):
        api.check(config(tmp_path / "escape.csv", tmp_path, type="image_classification"))


def test_a_bad_image_stops_the_run_before_training_unless_skipped(tmp_path, caplog):
    root = image_folder(tmp_path / "digits")
    good = (root / "digit-0" / "0.png").read_bytes()
    (root / "digit-0" / "cut.png").write_bytes(good[: len(good) // 2])
    (root / "digit-1" / "notes.png").write_text("not a picture")
    with pytest.raises(DataError, match=r"cut.png: truncated or corrupt image"):
        api.train(config(root, tmp_path))
    assert not (tmp_path / "run" / "checkpoints").exists()
    with caplog.at_level("WARNING", logger="tuneforge"):
        plan = api.check(config(root, tmp_path, skip_bad_images=True))
    assert "skipped 2 bad images" in caplog.text and plan.split_sizes["train"] + plan.split_sizes["validation"] \
        + plan.split_sizes["test"] == 36


def _bad_image(kind: str) -> bytes:
    import io

    from ..vision.test_images import png_header_only

    if kind == "cut.jpg":
        buffer = io.BytesIO()
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
        return buffer.getvalue()[: len(buffer.getvalue()) // 2]
    return b"just some notes" if kind == "notes.png" else png_header_only(20_000, 20_000)


@pytest.mark.parametrize("name, message", [("cut.jpg", "truncated or corrupt image"),
                                           ("notes.png", "not an image Pillow can read"),
                                           ("bomb.png", "more pixels than the limit of 40,000,000")])
def test_each_kind_of_bad_image_stops_training_with_one_line_naming_it(name, message, tmp_path):
    root = image_folder(tmp_path / "digits")
    (root / "digit-7" / name).write_bytes(_bad_image(name))
    with pytest.raises(DataError, match=f"digit-7/{name}: {message}"):
        api.train(config(root, tmp_path))
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_methods_that_cannot_train_an_image_model_say_so(tmp_path):
    root = image_folder(tmp_path / "digits")
    cfg = build_config({**config(root, tmp_path).model_dump(mode="json"), "method": {"name": "ia3"}})
    with pytest.raises(ConfigError, match="method ia3 cannot train task image_classification's vision models yet"):
        api.train(cfg)


def test_onnx_export_passes_the_parity_gate_and_the_onnx_backend_predicts_the_same(tmp_path, monkeypatch):
    root = image_folder(tmp_path / "digits")
    result = api.train(config(root, tmp_path))
    held_out = image_folder(tmp_path / "held-out")  # scores the variants; the training images calibrate
    section = api.export(result.bundle_dir, held_out, static_int8=True)
    assert section["variants"]["fp32"]["max_abs_diff"] < 1e-4 and section["variants"]["fp32"]["agreement"] == 1.0
    assert {"int8", "static_int8"} <= set(section["variants"])  # measured; kept only within max_drop
    for name in ("int8", "static_int8"):
        row = section["variants"][name]
        assert row["accepted"] == (row["drop_points"] <= section["max_drop"])
    assert section["variants"]["static_int8"]["calibrated_on"] == "36 training (digits) examples"
    assert b"ConvInteger" not in (result.bundle_dir / "onnx" / "model.int8.onnx").read_bytes()  # dynamic: Gemm only
    examples = [{"path": str(p), "where": str(p)} for p in sorted(root.rglob("*.png"))[:10]]
    onnx = Predictor.load(result.bundle_dir, backend="onnx", variant="fp32").predict(examples)
    torch_run = Predictor.load(result.bundle_dir).predict(examples)
    assert [p["label"] for p in onnx] == [p["label"] for p in torch_run]
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / "home"))  # where the measured choice is cached
    auto = Predictor.load(result.bundle_dir, backend="auto")  # times each accepted runtime on images
    runtimes = {"torch", "torch (fp32)", "torch (bf16)", "onnx:fp32", "onnx:int8", "onnx:static_int8"}
    # one runtime, or two by batch size ("onnx:int8 for batches up to 8, onnx:fp32 above")
    assert set(re.split(r" for batches up to \d+, | above$", auto.backend)) - {""} <= runtimes, auto.backend
    assert [p["label"] for p in auto.predict(examples)] == [p["label"] for p in torch_run]


@pytest.mark.parametrize("method", [{"name": "freeze", "train_layers": 2}, {"name": "linear_probe"},
                                    {"name": "lora"}, {"name": "lora", "merge": False}])
def test_partial_fine_tuning_and_lora_train_part_of_the_network_and_reload(method, tmp_path):
    cfg = build_config({**config(image_folder(tmp_path / "digits"), tmp_path).model_dump(mode="json"),
                        "method": method})
    result = api.train(cfg)
    assert result.trainable_parameters < result.total_parameters
    reloaded = Predictor.load(result.bundle_dir)
    example = [{"path": str(next((tmp_path / "digits").rglob("*.png"))), "where": "x"}]
    assert reloaded.predict(example)[0]["label"] == result.predictor.predict(example)[0]["label"]


def test_compare_weighs_methods_on_images(tmp_path):
    cfg = config(image_folder(tmp_path / "digits"), tmp_path)
    result = api.compare(cfg, methods=["full", "linear_probe"], budget_seconds=120, output=tmp_path / "compare")
    rows = {row["method"]: row for row in result.rows}
    assert set(rows) == {"full", "linear_probe"} and result.recommended in rows
    assert all(row["ms_per_text_b1"] > 0 and row["texts_per_s_b32"] > 0 for row in rows.values())
    assert rows["linear_probe"]["trainable_parameters"] < rows["full"]["trainable_parameters"]
    assert (tmp_path / "compare" / "comparison.md").is_file()


def test_predict_takes_one_image_or_a_folder_and_says_what_an_image_bundle_needs(tmp_path):
    root = image_folder(tmp_path / "digits")
    result = api.train(config(root, tmp_path))
    one = next((root / "digit-7").glob("*.png"))
    single = api.predict(result.bundle_dir, input_path=one)
    assert len(single) == 1 and single[0]["label"] in result.predictor.label_names
    assert len(api.predict(result.bundle_dir, input_path=root / "digit-7")) == 12  # a folder of images
    with pytest.raises(ConfigError, match="this bundle classifies images: give --input IMAGE"):
        api.predict(result.bundle_dir, texts=["a seven"])
    with pytest.raises(DataError, match="one image carries no label"):
        api.evaluate(result.bundle_dir, one)


def tiny_resnet_folder(folder):
    """A small, randomly initialised transformers ResNet saved as a local model folder (safetensors)."""
    from transformers import ResNetConfig, ResNetForImageClassification

    config = ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
                          num_labels=5)
    ResNetForImageClassification(config).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text('{"image_mean": [0.4, 0.4, 0.4], "image_std": [0.2, 0.2, 0.2]}')
    return folder


def test_a_local_transformers_image_model_trains_reloads_and_exports(tmp_path):
    root = image_folder(tmp_path / "digits")
    cfg = build_config({**config(root, tmp_path).model_dump(mode="json"),
                        "model": {"name": str(tiny_resnet_folder(tmp_path / "resnet"))}})
    result = api.train(cfg)
    assert type(result.predictor.model).__name__ == "ResNetForImageClassification"
    assert result.predictor.model.config.id2label == {0: "digit-0", 1: "digit-1", 2: "digit-7"}
    assert result.predictor.tokenizer.mean.tolist() == pytest.approx([0.4] * 3)  # its preprocessor_config.json
    example = [{"path": str(p), "where": "x"} for p in sorted(root.rglob("*.png"))[:6]]
    reloaded = Predictor.load(result.bundle_dir)
    assert [p["label"] for p in reloaded.predict(example)] == [p["label"] for p in result.predictor.predict(example)]
    section = api.export(result.bundle_dir, root)
    assert section["variants"]["fp32"]["max_abs_diff"] < 1e-4


def test_a_folder_that_is_not_a_transformers_image_model_says_why(tmp_path):
    import torch
    from safetensors.torch import save_file

    timm_like = tmp_path / "timm-resnet"
    timm_like.mkdir()
    (timm_like / "config.json").write_text('{"architecture": "resnet18", "num_classes": 1000}')
    save_file({"fc.weight": torch.zeros(2, 2)}, str(timm_like / "model.safetensors"))
    cfg = build_config({**config(image_folder(tmp_path / "digits"), tmp_path).model_dump(mode="json"),
                        "model": {"name": str(timm_like)}})
    with pytest.raises(ConfigError, match="not a transformers image model .*timm needs torchvision"):
        api.train(cfg)
