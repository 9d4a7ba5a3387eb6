"""Image data sets as examples: IDX files (images + labels, the MNIST layout), a folder of class
sub-folders (the ImageFolder layout), or a CSV/JSONL file with an image path column (paths relative
to the file). Each example is ``{"pixels" or "path", "label", "text", "where"}``: ``text`` names the
image in reports; pixels are decoded lazily for files, so a large folder costs no memory up front.

Example:
    >>> examples = read_idx_examples(Path("train-images-idx3-ubyte.gz"), label_names=None)
    >>> examples[0]["pixels"].shape, examples[0]["label"]
    ((28, 28), '9')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..data.readers import IMAGE_SUFFIXES
from ..errors import DataError
from .images import read_idx


def labels_file_of(images: Path) -> Path:
    """The labels IDX file beside an images IDX file (``train-images-idx3-ubyte.gz`` ->
    ``train-labels-idx1-ubyte.gz``)."""
    return images.with_name(images.name.replace("images", "labels").replace("idx3", "idx1"))


def read_idx_examples(images: Path, label: Callable[[Any, str], str] | None,
                      require_labels: bool = True) -> list[dict[str, Any]]:
    """Examples from an images IDX file and, when labels are wanted, its labels file."""
    pixels = read_idx(images)
    if pixels.ndim not in (3, 4) or pixels.dtype.itemsize != 1:
        raise DataError(f"{images}: an images IDX file holds N x H x W (or N x H x W x 3) bytes, not "
                        f"{pixels.shape} of {pixels.dtype}")
    labels = None
    if require_labels or labels_file_of(images).is_file():
        labels_path = labels_file_of(images)
        if not labels_path.is_file():
            raise DataError(f"{images}: its labels file {labels_path.name} is not beside it")
        labels = read_idx(labels_path)
        if labels.shape != (len(pixels),):
            raise DataError(f"{labels_path}: {labels.shape} labels for {len(pixels)} images")
    examples = []
    for i in range(len(pixels)):
        where = f"{images} image {i}"
        example = {"pixels": pixels[i], "text": f"{images.name} #{i}", "where": where}
        if labels is not None and label is not None:
            example["label"] = label(int(labels[i]), where)
        examples.append(example)
    return examples


def read_image_folder(root: Path, require_labels: bool = True) -> list[dict[str, Any]]:
    """One example per image file; its label is the name of the sub-folder it sits in (with labels), or
    every image file under ``root`` (without)."""
    if not root.is_dir():
        raise DataError(f"{root.absolute()}: not a folder")
    if not require_labels and not any(p.is_dir() for p in root.iterdir()):
        files = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        return [{"path": str(p), "text": p.name, "where": str(p)} for p in files]
    examples = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                examples.append({"path": str(path), "label": folder.name, "text": f"{folder.name}/{path.name}",
                                 "where": str(path)})
    if not examples:
        raise DataError(f"{root}: no images in class sub-folders (the layout is ROOT/<label>/<image files>)")
    return examples


def read_image_table(path: Path, rows, image_column: str, label: Callable[[dict, str], str] | None
                     ) -> list[dict[str, Any]]:
    """Examples from table rows (``data.readers.Row``) whose ``image_column`` names an image file,
    relative to the table's folder; absolute paths and paths leaving that folder are refused."""
    folder = path.parent.resolve()
    examples = []
    for row in rows:
        where = f"{path} line {row.line}"
        value = row.values.get(image_column)
        if not isinstance(value, str) or not value.strip():
            raise DataError(f"{where}: no image path in column {image_column!r}")
        image = (folder / value.strip()).resolve()
        if Path(value.strip()).is_absolute() or not image.is_relative_to(folder):
            raise DataError(f"{where}: image path {value!r} must be relative to {folder} and stay inside it")
        example = {"path": str(image), "text": value.strip(), "where": where}
        if label is not None:
            example["label"] = label(row.values, where)
        examples.append(example)
    return examples
