"""Image classification: one label per image, on a pretrained CNN (EfficientNet-Lite0 by default).

Data: IDX files (images + labels beside them, the MNIST layout), a folder of class sub-folders, or a
CSV/JSONL file whose ``task.image_column`` names image files relative to it. Images are decoded with
limits on bytes and pixels, grey ones expanded to three channels, resized to ``task.image_size`` and,
for training, augmented (``task.augment``). Metrics, reports and baselines are single-label
classification's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from ..errors import BundleError, ConfigError, DataError
from . import TASKS
from .base import BuiltModel, Starter, TaskOptions, label_list_problem, softmax
from .classification import SequenceClassification

IMAGE_COLUMNS = ("image", "path", "file", "filename", "image_path")


class ImageOptions(TaskOptions):
    """The ``task:`` section of image classification."""

    image_size: int = Field(96, ge=16, le=512, description="images are resized to this many pixels square")
    augment: bool = Field(True, description="random resized crops, flips and brightness/contrast jitter in training")
    image_column: str = Field("image", description="CSV/JSONL: the column naming each image file")
    skip_bad_images: bool = Field(False, description="leave out (and list) images that do not decode, "
                                                     "instead of stopping with the first one")


class ImageDataset:
    """Examples decoded and prepared on the fly (augmented, from a seeded generator, for training)."""

    def __init__(self, examples, processor, label_ids, augment: bool, seed: int = 0) -> None:
        self.examples, self.processor, self.label_ids = examples, processor, label_ids
        self.augment, self.rng = augment, np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        import torch

        pixels = self.processor.array(self.examples[index], self.rng if self.augment else None)
        item = {"pixel_values": torch.from_numpy(pixels)}
        if self.label_ids is not None:
            item["labels"] = self.label_ids[index]
        return item


def _collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    import torch

    batch = {"pixel_values": torch.stack([i["pixel_values"] for i in items])}
    if "labels" in items[0]:
        batch["labels"] = torch.tensor([i["labels"] for i in items], dtype=torch.long)
    return batch


class ImageClassification(SequenceClassification):
    """Single-label classification of images."""

    logit_kind = None
    augmentable = False

    name = "image_classification"
    Options = ImageOptions
    formats = ("idx", "imagefolder", "csv", "jsonl", "image")
    default_backbone = "efficientnet-lite0"
    auto_class = ""
    peft_task_type = ""
    model_family = "vision"
    quantized_ops = ("Conv", "MatMul", "Gemm")
    dynamic_quantized_ops = ("MatMul", "Gemm")  # dynamic ConvInteger: 10x slower and -16 points on Fashion-MNIST
    length_grouping = False
    reads_images = True

    @property
    def settings(self) -> ImageOptions:
        """The ``task:`` options this instance works with (the defaults when none were given)."""
        return self.options if isinstance(self.options, ImageOptions) else ImageOptions(type=self.name)

    def starter(self, profile) -> Starter | None:
        """IDX files and image folders; tables with an image path column."""
        if profile.format in ("idx", "imagefolder"):
            note = ("labels from the labels file beside it (integers: name them with data.label_names)"
                    if profile.format == "idx" else "one class per sub-folder")
            big = {"epochs": 1} if profile.n_rows > 20_000 else {}  # a CPU epoch of 20,000 images at 64 px: ~10 min
            return Starter(fit=2.0, options={"image_size": 64}, notes=[note], train=big)
        lower = {c.lower(): c for c in profile.columns}
        column = next((lower[c] for c in IMAGE_COLUMNS if c in lower), None)
        label = profile.label_column(exclude=(column,)) if column else None
        if column is None or label is None or profile.format not in self.formats:
            return None
        from ..data.readers import IMAGE_SUFFIXES

        if not {Path(str(v)).suffix.lower() for v in profile.values(column)} & IMAGE_SUFFIXES:
            return None
        return Starter(fit=2.0, options={"image_column": column}, data={"label_column": label},
                       notes=[f"image paths in {column!r}, labels in {label!r}"])

    # -- data ------------------------------------------------------------------------------------

    def read_examples(self, path, fmt, columns, require_labels=True):
        """Images with their labels (``data.label_names`` names integer labels, as for text)."""
        from ..data.examples import label_value
        from ..data.readers import read_records
        from ..vision.image_data import read_idx_examples, read_image_folder, read_image_table

        path = Path(path)
        if fmt not in self.formats:
            raise DataError(f"{path}: task {self.name} reads {', '.join(self.formats)}, not {fmt}")
        if fmt == "idx":
            return read_idx_examples(path, lambda raw, where: label_value(raw, where, "labels", columns.label_names),
                                     require_labels)
        if fmt == "image":  # one image file: something to predict
            if require_labels:
                raise DataError(f"{path}: one image carries no label; give a folder of class folders, IDX files "
                                "or a table of image paths")
            return self._decodable([{"path": str(path), "text": path.name, "where": str(path)}])
        if fmt == "imagefolder":
            examples = self._decodable(read_image_folder(path, require_labels))
            for example in examples:
                if "label" in example:
                    example["label"] = label_value(example["label"], example["where"], "folder", columns.label_names)
            return examples
        label = (lambda values, where: label_value(values.get(columns.label_column), where, columns.label_column,
                                                   columns.label_names)) if require_labels else None
        return self._decodable(read_image_table(path, read_records(path, fmt), self.settings.image_column, label))

    def _decodable(self, examples: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Every image file decoded once before training starts, so a bad one stops the run at once with its
        name (or, with ``task.skip_bad_images``, is left out and listed) instead of failing mid-training."""
        import logging

        from ..vision.images import open_image

        kept, bad = [], []
        for example in examples:
            try:
                open_image(example["path"], where=example["where"])
                kept.append(example)
            except DataError as exc:
                if not self.settings.skip_bad_images:
                    raise DataError(f"{exc} (task.skip_bad_images: true leaves such images out)") from None
                bad.append(str(exc))
        if bad:
            logging.getLogger("tuneforge").warning("skipped %d bad images: %s", len(bad), "; ".join(bad[:20]))
        return kept

    def workload_examples(self):
        """The demo inputs (what ``--backend auto`` times the runtimes on)."""
        return self.demo_examples()

    def warm_up_examples(self, pairs: bool):
        """One demo image (the server's first inference and health check)."""
        return self.demo_examples()[:1]

    def demo_examples(self):
        """Four small random images of two classes."""
        rng = np.random.default_rng(0)
        return [{"pixels": rng.integers(0, 255, (32, 32), dtype=np.uint8), "label": label, "text": f"demo {i}",
                 "where": "demo"} for i, label in enumerate(("pos", "pos", "neg", "neg"))]

    def report_sections(self, metrics, examples, predictions):
        """Classification's sections, with the most confident mistakes as a grid of thumbnails."""
        from ..vision.processor import ImageProcessor
        from ..vision.thumbnails import mistakes_grid

        sections = super().report_sections(metrics, examples, predictions)
        if not examples:
            return sections
        grid = mistakes_grid(examples, predictions, ImageProcessor())
        return [(sid, title, grid if sid == "mistakes" else body) for sid, title, body in sections]

    # -- model -----------------------------------------------------------------------------------

    def load_processor(self, method, options, model_path):
        """The image processor the backbone expects (its size from ``task.image_size``; mean and std from
        a transformers folder's ``preprocessor_config.json``, else EfficientNet-Lite's 0.5)."""
        from ..vision.efficientnet_lite import MEAN, STD
        from ..vision.processor import ImageProcessor

        mean, std = MEAN, STD
        if not _is_efficientnet(model_path):
            mean, std = _normalisation(Path(model_path), mean, std)
        return ImageProcessor(self.settings.image_size, mean, std, self.settings.augment)

    def load_inputs_processor(self, folder, error=BundleError):
        """The processor a bundle saved (``image_processor.json``)."""
        from ..vision.processor import ImageProcessor

        return ImageProcessor.from_pretrained(folder, error)

    def build_model(self, model_path, label_names) -> BuiltModel:
        """The pretrained network with a fresh head for ``label_names``: EfficientNet-Lite0, or a local
        transformers image-classification folder (safetensors, no custom code)."""
        from ..methods import head_parameter_names
        from ..vision.efficientnet_lite import ImageClassifier

        labels = dict(enumerate(label_names))
        if _is_efficientnet(model_path):
            model = ImageClassifier.from_folder(model_path, len(label_names), self.settings.image_size, labels)
            return BuiltModel(model, ["classifier.weight", "classifier.bias"])
        model = _transformers_image_model(model_path, ConfigError, num_labels=len(label_names),
                                          id2label=labels, label2id={v: k for k, v in labels.items()},
                                          ignore_mismatched_sizes=True)
        return BuiltModel(model, sorted(head_parameter_names(model)))

    def load_trained(self, model_dir):
        """A trained image model from a bundle (safetensors, every tensor checked)."""
        from ..vision.efficientnet_lite import ImageClassifier

        if _is_efficientnet(model_dir, BundleError):
            return ImageClassifier.from_pretrained(model_dir, BundleError)
        return _transformers_image_model(model_dir, BundleError)

    def model_config_problem(self, config, label_names):
        """The saved model must be an image classifier for exactly these labels."""
        architectures = config.get("architectures") or []
        if not any(a == "EfficientNetLiteForImageClassification" or str(a).endswith("ForImageClassification")
                   for a in architectures):
            return f"task {self.name} needs an image classification model, config.json has {architectures}"
        return label_list_problem(config, label_names)

    def encode(self, examples, tokenizer, label_names, max_length, with_labels=True):
        """A dataset that prepares each image when Trainer asks for it (no augmentation)."""
        ids = {n: i for i, n in enumerate(label_names)}
        return ImageDataset(examples, tokenizer, [ids[e["label"]] for e in examples] if with_labels else None, False)

    def encode_training(self, examples, tokenizer, label_names, max_length, seed: int = 0):
        """The training split: augmented when ``task.augment`` is on."""
        ids = {n: i for i, n in enumerate(label_names)}
        return ImageDataset(examples, tokenizer, [ids[e["label"]] for e in examples], self.settings.augment, seed)

    def export_sample(self, tokenizer):
        """Two images' pixels; the batch axis is dynamic (the size is fixed by the model)."""
        import torch

        size = tokenizer.image_size
        return ["pixel_values"], (torch.zeros(2, 3, size, size),), {"pixel_values": {0: "batch"}}

    def calibration_inputs(self, tokenizer, examples, limit: int):
        """Batches of 8 prepared images from the first ``limit`` examples."""
        chosen = examples[:limit]
        return [{"pixel_values": tokenizer.pixels(chosen[i:i + 8]).numpy()} for i in range(0, len(chosen), 8)]

    def collator(self, tokenizer):
        """Stacks prepared images (all the same size)."""
        return _collate

    def predict(self, model, tokenizer, examples, label_names, *, max_length, threshold=0.5, batch_size=64):
        """Label, score and every label's probability per image."""
        import torch

        results = []
        model.eval()
        with torch.inference_mode():
            for start in range(0, len(examples), batch_size):
                batch = examples[start:start + batch_size]
                logits = model(pixel_values=tokenizer.pixels(batch)).logits.float().numpy()
                for example, probs in zip(batch, softmax(logits)):
                    best = int(probs.argmax())
                    results.append({"image": example.get("text", ""), "label": label_names[best],
                                    "score": round(float(probs[best]), 6),
                                    "scores": {n: round(float(p), 6) for n, p in zip(label_names, probs)}})
        return results


TASKS.register("image_classification")(ImageClassification())


def _is_efficientnet(folder, error=ConfigError) -> bool:
    """Whether a model folder holds EfficientNet-Lite0 (the packaged weights or a model trained from them)."""
    from ..model_files import read_json_object
    from ..vision.efficientnet_lite import NAME

    config = read_json_object(Path(folder) / "config.json", error)
    return NAME in (config.get("architecture"), config.get("model_type"))


def _normalisation(folder: Path, mean, std):
    """``image_mean``/``image_std`` of a transformers ``preprocessor_config.json`` (the defaults without one)."""
    from ..model_files import read_json_object

    file = folder / "preprocessor_config.json"
    if not file.is_file():
        return mean, std
    config = read_json_object(file, ConfigError)
    values = [config.get("image_mean", mean), config.get("image_std", std)]
    if not all(isinstance(v, list) and len(v) == 3 and all(isinstance(x, (int, float)) and 0 < x < 10 for x in v)
               for v in values):
        raise ConfigError(f"{file}: image_mean and image_std must be three numbers each")
    return tuple(values[0]), tuple(values[1])


def _transformers_image_model(folder, error, **kwargs):
    """``AutoModelForImageClassification`` from a local folder (safetensors only, no custom code); a
    folder of another library (timm's ``architecture`` key) gets a one-line reason."""
    from ..model_files import check_model_folder, load_model, read_json_object

    check_model_folder(folder, error)
    config = read_json_object(Path(folder) / "config.json", error)
    if "model_type" not in config:
        hint = (" (a timm folder: timm needs torchvision, which does not load beside this project's CPU build of "
                "torch)") if "architecture" in config else ""
        raise error(f"{folder}: not a transformers image model (config.json has no model_type){hint}; "
                    "image tasks take efficientnet-lite0 or a transformers *ForImageClassification folder")
    return load_model("AutoModelForImageClassification", folder, error, **kwargs)
