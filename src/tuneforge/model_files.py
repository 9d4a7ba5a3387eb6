"""Open model folders as untrusted input: no code runs, only safetensors weights load, errors are one line.

Every model, tokenizer and config that TuneForge loads goes through this module, so that
``trust_remote_code=False`` and ``use_safetensors=True`` are passed in one place, and a folder
that declares custom code (``auto_map``), ships Python files, or holds only pickled weights is
refused before transformers reads anything from it.

Example:
    >>> check_model_folder("path/to/model")          # raises ConfigError on a bad folder
    >>> model = load_model("AutoModelForSequenceClassification", "path/to/model", num_labels=2)
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from .errors import ConfigError, TuneForgeError

CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyd")
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".h5", ".msgpack")
#: JSON files in which transformers looks for ``auto_map`` (custom code to import).
CODE_DECLARING_FILES = ("config.json", "tokenizer_config.json", "preprocessor_config.json",
                        "processor_config.json", "image_processor_config.json", "feature_extractor_config.json")

CONVERT_HINT = ("convert it once, on a machine where you trust the file: load it with "
                "transformers (torch.load(..., weights_only=True) underneath) and save it with "
                "model.save_pretrained(folder, safe_serialization=True)")


def walk_files(root: Path):
    """Every file and symlink below ``root``, without following symlinked folders."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs:
            if os.path.islink(os.path.join(folder, name)):
                yield Path(folder, name)
        for name in files:
            yield Path(folder, name)


def code_problems(root: Path) -> list[str]:
    """Code files below ``root`` and JSON files that declare custom code (``auto_map``)."""
    problems, declared = [], []
    for path in walk_files(root):  # one walk: code files (reported first), and JSON files that name code
        if path.suffix.lower() in CODE_SUFFIXES:
            problems.append(f"{path} is a code file")
        elif path.name in CODE_DECLARING_FILES and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # reported by whoever parses it
            if isinstance(data, dict) and ("auto_map" in data or "custom_pipelines" in data):
                declared.append(f"{path} declares custom code (auto_map)")
    return problems + declared


def refuse_code(root: Path, error: type[TuneForgeError] = ConfigError) -> None:
    """Fail when ``root`` holds code or declares custom code: TuneForge never runs it."""
    problems = code_problems(root)
    if problems:
        raise error(f"{problems[0]}; TuneForge never runs code that comes with a model (trust_remote_code is "
                    "always off): use a model whose architecture transformers knows, without .py files or auto_map")


def check_safetensors(path: Path, error: type[TuneForgeError] = ConfigError) -> None:
    """Fail unless ``path`` is a readable safetensors file (its header is parsed, nothing else is read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            handle.keys()
    except Exception as exc:  # SafetensorError, OSError: random bytes, truncation, not a file
        raise error(f"{path}: not a valid safetensors file ({_first_line(exc)})") from None


def check_model_folder(path: str | Path, error: type[TuneForgeError] = ConfigError, what: str = "model folder",
                       require_weights: bool = True) -> Path:
    """Check a transformers model folder before anything loads from it; returns it.

    Refuses: no ``config.json`` or one that is not a JSON object; custom code; pickled weights
    without safetensors beside them; safetensors files whose header does not parse.
    """
    root = Path(path)
    config = root / "config.json"
    if not config.is_file():
        raise error(f"{what} {root} has no config.json; is it a Hugging Face model folder?")
    read_json_object(config, error)
    refuse_code(root, error)
    if require_weights:
        weights = sorted(root.glob("*.safetensors"))
        if not weights:
            pickles = sorted(p.name for p in root.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
            if pickles:
                raise error(f"{root / pickles[0]}: TuneForge loads safetensors weights only and never unpickles "
                            f"a model file; {CONVERT_HINT}")
            raise error(f"{what} {root} holds no model.safetensors")
        for file in weights:
            check_safetensors(file, error)
    return root


def read_json_object(path: Path, error: type[TuneForgeError] = ConfigError) -> dict[str, Any]:
    """A JSON file that must hold an object; anything else is one ``error`` line naming the file."""
    try:
        parsed = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise error(f"{path}: not valid JSON ({_first_line(exc)})") from None
    if not isinstance(parsed, dict):
        raise error(f"{path}: must hold a JSON object, found {type(parsed).__name__}")
    return parsed


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def guarded(load: Callable[[], Any], path: str | Path, what: str, error: type[TuneForgeError] = ConfigError) -> Any:
    """Run ``load``; any failure becomes one ``error`` line naming ``path`` and what was loaded."""
    try:
        return load()
    except TuneForgeError:
        raise
    except Exception as exc:
        raise error(f"{path}: cannot load the {what}: {type(exc).__name__}: {_first_line(exc)}") from None


def load_tokenizer(path: str | Path, error: type[TuneForgeError] = ConfigError, **kwargs: Any):
    """``AutoTokenizer.from_pretrained`` with remote code off and one-line errors."""
    from transformers import AutoTokenizer

    return guarded(lambda: AutoTokenizer.from_pretrained(str(path), trust_remote_code=False, **kwargs),
                   path, "tokenizer", error)


def load_config(path: str | Path, error: type[TuneForgeError] = ConfigError, **kwargs: Any):
    """``AutoConfig.from_pretrained`` with remote code off and one-line errors."""
    from transformers import AutoConfig

    return guarded(lambda: AutoConfig.from_pretrained(str(path), trust_remote_code=False, **kwargs),
                   path, "model config", error)


def load_model(auto_class: str | type, path: str | Path, error: type[TuneForgeError] = ConfigError,
               **kwargs: Any):
    """``<auto_class>.from_pretrained`` with remote code off, safetensors only, and one-line errors.

    ``auto_class`` is a transformers class or its name (``"AutoModelForSequenceClassification"``).
    """
    import transformers

    from .logs import quiet_loading

    cls = getattr(transformers, auto_class) if isinstance(auto_class, str) else auto_class
    with quiet_loading():
        return guarded(lambda: cls.from_pretrained(str(path), trust_remote_code=False, use_safetensors=True,
                                                   **kwargs), path, "model", error)


def installed_package_file(package: str, relative: str, model: str, install: str) -> Path:
    """A file shipped inside an installed package (found through its metadata, the package never
    imported); ``model`` and ``install`` (the pip command) go into the error when it is missing."""
    import importlib.metadata

    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(f"model {model} needs its package: {install}") from None
    path = Path(str(dist.locate_file(relative)))
    if not path.is_file():
        raise ConfigError(f"{package} is installed but {relative} is missing; reinstall it")
    return path
