"""A model registry in a folder: named models, immutable numbered versions, stages, rollback.

Layout (``REGISTRY/NAME/``)::

    versions/1/bundle/...      a copy of the pushed bundle, files read-only
    versions/1/record.json     version, when, from where, sha256 of the bundle's manifest, task, metrics
    stages.json                {"stages": {"production": 2}, "previous": {"production": [1]},
                               "history": [{"stage", "version", "at"}, ...]}

A version never changes once pushed: it is written to a temporary folder and renamed into place, and
every read (``resolve``, ``promote``, serving) checks the bundle against its own manifest (every
file's sha256) and the manifest against the sha256 the registry recorded at push time, so a bundle
edited in place, or replaced by another validly signed bundle, is refused. ``rollback`` moves a stage
back to the version it held before. Writes to ``stages.json`` are atomic.

Example:
    >>> registry = FolderRegistry("registry")
    >>> registry.push("runs/sst2/bundle", "sentiment")
    1
    >>> registry.promote("sentiment", 1, "production")
    >>> registry.resolve("registry://sentiment@production")
    PosixPath('registry/sentiment/versions/1/bundle')
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import time
from pathlib import Path
from typing import Any

from .errors import BundleError, ConfigError

SCHEME = "registry://"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
STAGE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
RECORD = "record.json"
STAGES = "stages.json"


def registry_folder(option: str | Path | None = None) -> Path:
    """The registry folder: ``--registry``, else ``$TUNEFORGE_REGISTRY``, else ``./registry``."""
    return Path(option or os.environ.get("TUNEFORGE_REGISTRY") or "registry")


def parse_uri(uri: str) -> tuple[str, str]:
    """``registry://NAME@STAGE`` or ``registry://NAME@VERSION`` (or ``NAME@...``) -> (name, stage or version);
    without ``@``, the ``production`` stage."""
    body = uri[len(SCHEME):] if uri.startswith(SCHEME) else uri
    name, _, which = body.partition("@")
    which = which or "production"
    if not NAME.match(name) or not (which.isdigit() or STAGE.match(which)):
        raise ConfigError(f"{uri!r}: expected registry://NAME@STAGE or registry://NAME@VERSION")
    return name, which


def _read_only(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


class FolderRegistry:
    """Named models with immutable, hash-checked versions and stages, in a folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    # -- reading ------------------------------------------------------------------------------------

    def _model(self, name: str) -> Path:
        if not NAME.match(name or ""):
            raise ConfigError(f"model name {name!r}: letters, digits, '.', '_' and '-' only (64 at most)")
        return self.root / name

    def _stages(self, name: str) -> dict[str, Any]:
        path = self._model(name) / STAGES
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"stages": {}, "history": []}

    def versions(self, name: str) -> list[int]:
        """The version numbers pushed under ``name``, oldest first."""
        folder = self._model(name) / "versions"
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) if folder.is_dir() else []

    def record(self, name: str, version: int) -> dict[str, Any]:
        """What the registry recorded when ``version`` was pushed."""
        path = self._model(name) / "versions" / str(version) / RECORD
        if not path.is_file():
            known = ", ".join(map(str, self.versions(name))) or "none"
            raise ConfigError(f"{name} has no version {version} (versions: {known})")
        return json.loads(path.read_text(encoding="utf-8"))

    def verify(self, name: str, version: int) -> Path:
        """The bundle folder of ``name`` ``version`` after checking every file against the bundle's
        manifest and the manifest against the registry's record; BundleError when either differs."""
        from .bundle import MANIFEST, read_manifest
        from .fileops import sha256_file

        record = self.record(name, version)
        bundle = self._model(name) / "versions" / str(version) / "bundle"
        read_manifest(bundle, verify=True)
        if sha256_file(bundle / MANIFEST) != record["manifest_sha256"]:
            raise BundleError(f"{name} version {version}: the bundle's manifest is not the one pushed (its sha256 "
                              "differs from the registry's record); the version was tampered with")
        return bundle

    def resolve(self, uri: str) -> Path:
        """The verified bundle folder a ``registry://NAME@STAGE|VERSION`` names."""
        name, which = parse_uri(uri)
        if which.isdigit():
            return self.verify(name, int(which))
        version = self._stages(name)["stages"].get(which)
        if version is None:
            raise ConfigError(f"{name} has no version in stage {which!r}"
                              + ("" if self.versions(name) else f" (no model {name!r} in {self.root})"))
        return self.verify(name, version)

    def list(self, name: str | None = None) -> list[dict[str, Any]]:
        """One row per version (of ``name``, or of every model): name, version, stages, created, task, metrics."""
        names = [name] if name else sorted(p.name for p in self.root.iterdir() if p.is_dir()) \
            if self.root.is_dir() else []
        rows = []
        for model in names:
            stages = self._stages(model)["stages"]
            for version in self.versions(model):
                record = self.record(model, version)
                rows.append({"name": model, "version": version,
                             "stages": sorted(s for s, v in stages.items() if v == version),
                             **{k: record.get(k) for k in ("created", "source", "task", "metrics")}})
        return rows

    # -- writing ------------------------------------------------------------------------------------

    def push(self, bundle: str | Path, name: str) -> int:
        """Copy a verified bundle in as the next version of ``name``; returns the version number."""
        from .bundle import MANIFEST, read_manifest
        from .evaluation.report import headline
        from .fileops import sha256_file

        source = Path(bundle)
        manifest = read_manifest(source, verify=True)
        folder = self._model(name) / "versions"
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / f".incoming-{os.getpid()}-{time.time_ns()}"
        shutil.copytree(source, staging / "bundle", symlinks=False)
        read_manifest(staging / "bundle", verify=True)  # the copy, as it will be served
        record = {"name": name, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "source": str(source.resolve()), "manifest_sha256": sha256_file(staging / "bundle" / MANIFEST),
                  "task": manifest.task.type, "metrics": headline(manifest.metrics or {})}
        while True:  # the next number; a rename onto an existing version fails, so two pushes never share one
            version = (self.versions(name) or [0])[-1] + 1
            (staging / RECORD).write_text(json.dumps({**record, "version": version}, indent=2), encoding="utf-8")
            try:
                os.rename(staging, folder / str(version))
                break
            except OSError:
                if not (folder / str(version)).exists():
                    raise
        _read_only(folder / str(version))
        return version

    def _write_stages(self, name: str, stages: dict[str, Any]) -> None:
        from .fileops import atomic_write_text

        atomic_write_text(self._model(name) / STAGES, json.dumps(stages, indent=2))

    def promote(self, name: str, version: int, stage: str = "production") -> None:
        """Put (verified) ``version`` in ``stage``; the stage's history keeps what it held before."""
        if not STAGE.match(stage):
            raise ConfigError(f"stage {stage!r}: lower-case letters, digits, '_' and '-'")
        self.verify(name, version)
        stages = self._stages(name)
        current = stages["stages"].get(stage)
        if current is not None and current != version:  # what rollback returns to
            stages.setdefault("previous", {}).setdefault(stage, []).append(current)
        stages["stages"][stage] = version
        stages["history"].append({"stage": stage, "version": version,
                                  "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        self._write_stages(name, stages)

    def rollback(self, name: str, stage: str = "production") -> int:
        """Move ``stage`` back to the version it held before its current one; returns that version."""
        stages = self._stages(name)
        current = stages["stages"].get(stage)
        earlier = stages.get("previous", {}).get(stage, [])
        if current is None or not earlier:
            raise ConfigError(f"{name}: stage {stage!r} has no earlier version to roll back to")
        previous = earlier.pop()
        self.verify(name, previous)
        stages["stages"][stage] = previous
        stages["history"].append({"stage": stage, "version": previous, "rollback_from": current,
                                  "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        self._write_stages(name, stages)
        return previous
