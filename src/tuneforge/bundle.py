"""The model bundle: one folder with everything needed to reload and serve a trained model.

```
bundle/
  tuneforge.json   manifest: format version, task, labels, method, base model, metrics,
                   library versions, sha256 of every file
  manifest.sha256  digest of the manifest's content (an edit to the manifest alone is refused)
  model/           save_pretrained output (config.json, model.safetensors, tokenizer files)
  onnx/            model.onnx (+ model.int8.onnx) after ``tuneforge export``
  report.md        the evaluation report
```
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .backbone import sha256_file
from .errors import BundleError
from .fileops import atomic_write_text, normalise_modes, replace_dir

FORMAT_VERSION = 2  # 2: the manifest is covered by manifest.sha256
READABLE_VERSIONS = (1, 2)
log = logging.getLogger("tuneforge")
MANIFEST = "tuneforge.json"
DIGEST = "manifest.sha256"


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


def manifest_digest(manifest: dict[str, Any]) -> str:
    """sha256 of the manifest's content (every section but ``files``), in canonical JSON.

    It is stored in ``manifest.sha256``, a file whose own hash is in ``files``: editing the manifest
    (labels, task type, method) breaks the digest, and fixing it takes two deliberate edits, not one.
    """
    content = {k: v for k, v in manifest.items() if k != "files"}
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def _digest_matches(root: Path, manifest: dict[str, Any]) -> bool:
    """Whether ``manifest.sha256`` holds the digest of ``manifest``'s content."""
    digest = root / DIGEST
    return digest.is_file() and digest.read_text(encoding="utf-8").strip() == manifest_digest(manifest)


def _write_manifest(root: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.sha256`` and the manifest (hashes of every file, itself last), each atomically."""
    atomic_write_text(root / DIGEST, manifest_digest(manifest) + "\n")
    manifest["files"] = _file_hashes(root)
    atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=2))
    normalise_modes(root)


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

    The bundle is written beside ``path`` and renamed into place once complete, so an
    interrupted save never leaves a partial bundle at ``path``; file modes follow the umask.

    Example:
        >>> save_bundle("runs/x/bundle", model, tokenizer, {"task": {...}, ...})
    """
    from safetensors.torch import save_file

    from .methods import trainable_state
    from .model_files import refuse_code

    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    root = final.parent / f".{final.name}.partial-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    if trainable_only:
        (root / ADAPTER_WEIGHTS).parent.mkdir(exist_ok=True)
        save_file(trainable_state(model), str(root / ADAPTER_WEIGHTS))
    else:
        model.save_pretrained(root / "model", safe_serialization=True)
    tokenizer.save_pretrained(root / "model")
    refuse_code(root, BundleError)  # a bundle never carries code, whatever the model object wrote
    if report_md is not None:
        (root / "report.md").write_text(report_md, encoding="utf-8")
    full = {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **manifest,
        "versions": _library_versions(),
    }
    _write_manifest(root, full)
    replace_dir(root, final)  # the bundle appears whole, or not at all
    return final


def read_manifest(path: str | Path, verify: bool = True) -> dict[str, Any]:
    """Read a bundle's manifest and (by default) verify it before anything loads from the bundle.

    Verification: format version; no symlinks and no code in the bundle; the manifest's digest
    (``manifest.sha256``); the sha256 of every file; every safetensors header parses.
    """
    from .model_files import check_safetensors, refuse_code, walk_files

    root = Path(path)
    manifest_path = root / MANIFEST
    if not root.is_dir():
        raise BundleError(f"{root}: bundle folder not found")
    if not manifest_path.is_file():
        raise BundleError(f"{root}: not a TuneForge bundle ({MANIFEST} is missing)")
    links = [p for p in walk_files(root) if p.is_symlink()]
    if links:
        raise BundleError(f"{links[0]}: bundles may not hold symlinks (a bundle is one self-contained folder)")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"{manifest_path}: manifest is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise BundleError(f"{manifest_path}: manifest must be a JSON object")
    version = manifest.get("format_version")
    if version not in READABLE_VERSIONS:
        raise BundleError(f"{root}: bundle format version {version!r} is not supported (this TuneForge reads "
                          f"{', '.join(map(str, READABLE_VERSIONS))})")
    if verify:
        refuse_code(root, BundleError)
        expected = manifest.get("files") or {}
        if not isinstance(expected, dict):
            raise BundleError(f"{manifest_path}: 'files' must map file names to sha256 hashes")
        actual = _file_hashes(root)
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        changed = sorted(name for name in set(expected) & set(actual) if expected[name] != actual[name])
        problems = [f"missing {name}" for name in missing]
        problems += [f"{name} does not match its sha256 in the manifest" for name in changed]
        problems += [f"unexpected file {name}" for name in extra]
        if problems:
            raise BundleError(f"{root}: bundle does not match its manifest: {'; '.join(problems[:5])}")
        if version == 1:  # written before manifests had a digest: only the model cross-check guards them
            log.warning("%s: bundle format 1 (an older TuneForge): its manifest is not covered by a digest; "
                        "re-export or retrain it to upgrade", root)
        elif not _digest_matches(root, manifest):
            raise BundleError(f"{manifest_path}: the manifest was edited after the bundle was written (its content "
                              f"does not match {DIGEST}); retrain or re-export instead of editing it")
        for name in sorted(actual):
            if name.endswith(".safetensors"):
                check_safetensors(root / name, BundleError)
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
    if manifest.get("format_version") != 1 and not _digest_matches(root, manifest):
        raise BundleError(f"{root / MANIFEST}: the manifest was edited after the bundle was written; not updating it")
    manifest["format_version"] = FORMAT_VERSION  # a format-1 bundle is upgraded by any update
    current = _file_hashes(root)
    changed = sorted(name for name in expected if current.get(name) != expected[name])
    if changed:
        raise BundleError(f"{root}: bundle does not match its manifest ({', '.join(changed[:3])}); not updating it")
    manifest.update(sections)
    _write_manifest(root, manifest)
    return manifest
