"""The model bundle: one folder with everything needed to reload and serve a trained model.

```
bundle/
  tuneforge.json   manifest (``Manifest``): format version, task, data columns, method, base model,
                   which kind of model it holds, metrics, library versions, sha256 of every file
  manifest.sha256  digest of the manifest's content (an edit to the manifest alone is refused)
  model/           the model as its kind saves it (``tuneforge.bundled``) + tokenizer files
  onnx/            model.onnx (+ model.int8.onnx) after ``tuneforge export``
  report.md        the evaluation report
```

The manifest is written and read only here, as a typed, versioned ``Manifest``. Older formats are
migrated when read (``migrate``): format 1 (no digest) and format 2 (no ``model`` section) still load.
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
from typing import Any, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .backbone import sha256_file
from .errors import BundleError
from .fileops import atomic_write_text, normalise_modes, replace_dir

FORMAT_VERSION = 3  # 2: the manifest is covered by manifest.sha256; 3: typed, with the bundled model's kind
READABLE_VERSIONS = (1, 2, 3)
log = logging.getLogger("tuneforge")
MANIFEST = "tuneforge.json"
DIGEST = "manifest.sha256"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _OpenSection(BaseModel):
    model_config = ConfigDict(extra="allow")  # facts a task or method adds (e.g. a method's report facts)


class TaskSection(_OpenSection):
    """What the model predicts: the task type, its label (or target) names and input length."""

    type: str
    label_names: list[str]
    max_length: int
    threshold: float = 0.5


class DataSection(_Section):
    """Where input files keep the texts (``data.examples.DataColumns``)."""

    text_column: str = "text"
    text_pair_column: str | None = None
    label_column: str = "label"
    label_delimiter: str | None = None
    label_names: list[str] | dict[str, str] | None = None
    prompt_column: str | None = None
    response_column: str | list[str] | None = None
    system_column: str | None = None
    prompt_template: str | None = None


class MethodSection(_OpenSection):
    """The adaptation method, its options, and facts about its training."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)
    merged: bool = True
    trainable_parameters: int = 0
    total_parameters: int = 0


class BaseModelSection(_Section):
    """The backbone the model started from (an unmerged bundle needs it, checked by hash)."""

    name: str
    path: str = ""
    weights_sha256: str = ""


class ModelSection(_Section):
    """Which kind of model ``model/`` holds (``tuneforge.bundled.MODEL_KINDS``)."""

    kind: str


class Manifest(_Section):
    """The bundle manifest (``tuneforge.json``), format ``FORMAT_VERSION``.

    ``onnx`` is added by ``tuneforge export``, ``compress`` by ``tuneforge compress``; ``inference``
    is the bf16 inference parity check made with the bundle (``tuneforge.inference_precision``).
    """

    format_version: int = FORMAT_VERSION
    created: str = ""
    task: TaskSection
    data: DataSection = Field(default_factory=DataSection)
    train_stats: dict[str, Any] = Field(default_factory=dict)
    method: MethodSection
    base_model: BaseModelSection
    model: ModelSection
    metrics: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=dict)
    onnx: dict[str, Any] | None = None
    compress: dict[str, Any] | None = None
    inference: dict[str, Any] | None = None
    files: dict[str, str] = Field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The manifest as the JSON object written to disk."""
        return self.model_dump(mode="json", exclude_none=True)


def migrate(raw: dict[str, Any]) -> dict[str, Any]:
    """A manifest of an older readable format, upgraded to the current one (the ``model`` section
    that formats 1 and 2 lack is what their method and ``merged`` flag imply)."""
    from .bundled import kind_for

    version = raw.get("format_version")
    if version == FORMAT_VERSION:
        return raw
    upgraded = {**raw, "format_version": FORMAT_VERSION}
    if "model" not in raw:
        method = raw.get("method") if isinstance(raw.get("method"), dict) else {}
        upgraded["model"] = {"kind": kind_for(method.get("name"), method.get("options") or {},
                                              bool(method.get("merged", True)))}
    return upgraded


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
    """Whether ``manifest.sha256`` holds the digest of ``manifest``'s content (the JSON as read)."""
    digest = root / DIGEST
    return digest.is_file() and digest.read_text(encoding="utf-8").strip() == manifest_digest(manifest)


def _write_manifest(root: Path, manifest: Manifest) -> Manifest:
    """Write ``manifest.sha256`` and the manifest (hashes of every file, itself last), each atomically."""
    content = manifest.model_copy(update={"files": {}}).as_json()
    content.pop("files", None)
    atomic_write_text(root / DIGEST, manifest_digest(content) + "\n")
    written = manifest.model_copy(update={"files": _file_hashes(root)})
    atomic_write_text(root / MANIFEST, json.dumps(written.as_json(), indent=2))
    normalise_modes(root)
    return written


def save_bundle(path: str | Path, model, tokenizer, manifest: Manifest, report_md: str | None = None,
                new_parameters: Sequence[str] = (), extra_files: dict[str, str] | None = None) -> Path:
    """Write model (as ``manifest.model.kind`` saves it), tokenizer, report and the manifest with the
    sha256 of every file; format version, creation time and library versions are set here.

    ``new_parameters``: parameters the base checkpoint lacked (a kind that stores only the trained
    parameters stores these too). ``extra_files``: more text files (name -> content), such as the
    reference profile; hashed like the rest. The bundle is written beside ``path`` and renamed into place once
    complete, so an interrupted save never leaves a partial bundle at ``path``; file modes follow the umask.

    Example:
        >>> save_bundle("runs/x/bundle", model, tokenizer, manifest_of(cfg, prep, fitted))
    """
    from .bundled import MODEL_KINDS
    from .model_files import refuse_code

    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    root = final.parent / f".{final.name}.partial-{os.getpid()}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    MODEL_KINDS.get(manifest.model.kind)().save(model, root, new_parameters)
    tokenizer.save_pretrained(root / "model")
    refuse_code(root, BundleError)  # a bundle never carries code, whatever the model object wrote
    if report_md is not None:
        (root / "report.md").write_text(report_md, encoding="utf-8")
    for name, text in (extra_files or {}).items():
        (root / name).write_text(text, encoding="utf-8")
    full = manifest.model_copy(update={
        "format_version": FORMAT_VERSION, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "versions": _library_versions(), "onnx": None, "compress": None,
    })
    _write_manifest(root, full)
    replace_dir(root, final)  # the bundle appears whole, or not at all
    return final


def _read_raw(root: Path) -> dict[str, Any]:
    """The manifest JSON object of a bundle folder, with its format version checked."""
    from .model_files import walk_files

    manifest_path = root / MANIFEST
    if not root.is_dir():
        raise BundleError(f"{root}: bundle folder not found")
    if not manifest_path.is_file():
        hint = f"; did you mean {root / 'bundle'}?" if (root / "bundle" / MANIFEST).is_file() else ""
        raise BundleError(f"{root}: not a TuneForge bundle ({MANIFEST} is missing){hint}")
    links = [p for p in walk_files(root) if p.is_symlink()]
    if links:
        raise BundleError(f"{links[0]}: bundles may not hold symlinks (a bundle is one self-contained folder)")
    try:
        raw = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BundleError(f"{manifest_path}: manifest is not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise BundleError(f"{manifest_path}: manifest must be a JSON object")
    version = raw.get("format_version")
    if version not in READABLE_VERSIONS:
        raise BundleError(f"{root}: bundle format version {version!r} is not supported (this TuneForge reads "
                          f"{', '.join(map(str, READABLE_VERSIONS))})")
    return raw


def _typed(root: Path, raw: dict[str, Any]) -> Manifest:
    """``raw`` migrated to the current format and validated; a malformed manifest is a BundleError."""
    try:
        return Manifest.model_validate(migrate(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise BundleError(f"{root / MANIFEST}: {where}: {first['msg']}") from None
    except Exception as exc:  # a migration that meets a manifest it cannot read
        if isinstance(exc, BundleError):
            raise
        raise BundleError(f"{root / MANIFEST}: cannot read this manifest ({exc})") from None


def read_manifest(path: str | Path, verify: bool = True) -> Manifest:
    """Read a bundle's manifest and (by default) verify it before anything loads from the bundle.

    Verification: format version; no symlinks and no code in the bundle; the manifest's digest
    (``manifest.sha256``); the sha256 of every file; every safetensors header parses.
    """
    from .model_files import check_safetensors, refuse_code

    root = Path(path)
    raw = _read_raw(root)
    if verify:
        refuse_code(root, BundleError)
        expected = raw.get("files") or {}
        if not isinstance(expected, dict):
            raise BundleError(f"{root / MANIFEST}: 'files' must map file names to sha256 hashes")
        actual = _file_hashes(root)
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        changed = sorted(name for name in set(expected) & set(actual) if expected[name] != actual[name])
        problems = [f"missing {name}" for name in missing]
        problems += [f"{name} does not match its sha256 in the manifest" for name in changed]
        problems += [f"unexpected file {name}" for name in extra]
        if problems:
            raise BundleError(f"{root}: bundle does not match its manifest: {'; '.join(problems[:5])}")
        if raw["format_version"] == 1:  # written before manifests had a digest: only the model cross-check guards them
            log.warning("%s: bundle format 1 (an older TuneForge): its manifest is not covered by a digest; "
                        "re-export or retrain it to upgrade", root)
        elif not _digest_matches(root, raw):
            raise BundleError(f"{root / MANIFEST}: the manifest was edited after the bundle was written (its content "
                              f"does not match {DIGEST}); retrain or re-export instead of editing it")
        for name in sorted(actual):
            if name.endswith(".safetensors"):
                check_safetensors(root / name, BundleError)
    return _typed(root, raw)


def update_manifest(path: str | Path, **sections: Any) -> Manifest:
    """Add or replace manifest sections (``onnx``, ``compress``) after files were added to a bundle;
    rehash every file. An older bundle is upgraded to the current format by any update.

    The bundle is verified first, so only files written since (e.g. ``onnx/``) are newly trusted.

    Example:
        >>> update_manifest("runs/x/bundle", onnx={"default": "fp32", ...})
    """
    root = Path(path)
    raw = _read_raw(root)
    if raw["format_version"] != 1 and not _digest_matches(root, raw):
        raise BundleError(f"{root / MANIFEST}: the manifest was edited after the bundle was written; not updating it")
    expected = raw.get("files") or {}
    current = _file_hashes(root)
    changed = sorted(name for name in expected if current.get(name) != expected[name])
    if changed:
        raise BundleError(f"{root}: bundle does not match its manifest ({', '.join(changed[:3])}); not updating it")
    manifest = _typed(root, raw)
    return _write_manifest(root, Manifest.model_validate({**manifest.as_json(), **sections}))
