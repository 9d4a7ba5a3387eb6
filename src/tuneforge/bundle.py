"""The model bundle: one folder with everything needed to reload and serve a trained model.

```
bundle/
  tuneforge.json   manifest: format version, task, labels, method, base model, metrics,
                   library versions, sha256 of every file
  model/           save_pretrained output (config.json, model.safetensors, tokenizer files)
  onnx/            model.onnx (+ model.int8.onnx) after ``tuneforge export``
  report.md        the evaluation report
```
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .backbone import sha256_file
from .errors import BundleError

FORMAT_VERSION = 1
MANIFEST = "tuneforge.json"


def _library_versions() -> dict[str, str]:
    import tokenizers
    import torch
    import transformers

    from . import __version__

    return {
        "tuneforge": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


def _file_hashes(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): sha256_file(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != MANIFEST
    }


ADAPTER_WEIGHTS = "adapter/trainable.safetensors"


def save_bundle(
    path: str | Path, model, tokenizer, manifest: dict[str, Any], report_md: str | None = None,
    trainable_only: bool = False,
) -> Path:
    """Write model, tokenizer, report and a manifest with the sha256 of every file.

    ``manifest`` carries the task description (``task``, ``data``, ``method``,
    ``base_model``, ``metrics``, ``train_stats``); format version, versions and hashes are added here.
    With ``trainable_only`` only the trained parameters are written (``adapter/``); loading
    rebuilds the model from the base named in the manifest.

    Example:
        >>> save_bundle("runs/x/bundle", model, tokenizer, {"task": {...}, ...})
    """
    from safetensors.torch import save_file

    from .methods import trainable_state

    root = Path(path)
    root.mkdir(parents=True, exist_ok=True)
    if trainable_only:
        (root / "adapter").mkdir(exist_ok=True)
        save_file(trainable_state(model), str(root / ADAPTER_WEIGHTS))
    else:
        model.save_pretrained(root / "model", safe_serialization=True)
    tokenizer.save_pretrained(root / "model")
    if report_md is not None:
        (root / "report.md").write_text(report_md, encoding="utf-8")
    full = {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **manifest,
        "versions": _library_versions(),
        "files": _file_hashes(root),
    }
    (root / MANIFEST).write_text(json.dumps(full, indent=2), encoding="utf-8")
    return root


def read_manifest(path: str | Path, verify: bool = True) -> dict[str, Any]:
    """Read a bundle's manifest and (by default) check format version and every file hash."""
    root = Path(path)
    manifest_path = root / MANIFEST
    if not root.is_dir():
        raise BundleError(f"{root}: bundle folder not found")
    if not manifest_path.is_file():
        raise BundleError(f"{root}: not a TuneForge bundle ({MANIFEST} is missing)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{manifest_path}: manifest is not valid JSON ({exc})") from None
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(
            f"{root}: bundle format version {version!r} is not supported (this TuneForge reads {FORMAT_VERSION})"
        )
    if verify:
        expected = manifest.get("files") or {}
        actual = _file_hashes(root)
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        changed = sorted(name for name in set(expected) & set(actual) if expected[name] != actual[name])
        problems = [f"missing {name}" for name in missing]
        problems += [f"{name} does not match its sha256 in the manifest" for name in changed]
        problems += [f"unexpected file {name}" for name in extra]
        if problems:
            raise BundleError(f"{root}: bundle does not match its manifest: {'; '.join(problems)}")
    return manifest


def update_manifest(path: str | Path, **sections: Any) -> dict[str, Any]:
    """Add or replace manifest sections after files were added to a bundle; rehash every file.

    The bundle is verified first, so only files written since (e.g. ``onnx/``) are newly trusted.

    Example:
        >>> update_manifest("runs/x/bundle", onnx={"default": "fp32", ...})
    """
    root = Path(path)
    manifest = read_manifest(root, verify=False)
    expected = manifest.get("files") or {}
    current = _file_hashes(root)
    changed = sorted(name for name in expected if current.get(name) != expected[name])
    if changed:
        raise BundleError(f"{root}: bundle does not match its manifest ({', '.join(changed[:3])}); not updating it")
    manifest.update(sections)
    manifest["files"] = current
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return manifest
