"""The model registry on MLflow (``--mlflow URI``, e.g. ``sqlite:///registry/mlflow.db``): MLflow's own
model registry holds the names and versions, each bundle is logged as a run's artifact, and stages
are MLflow aliases. The interface and the guarantees are those of ``model_registry.FolderRegistry``:
the sha256 of the bundle's manifest is a tag of the model version, and every resolve verifies the
downloaded bundle against its manifest and that tag; rollback keeps each alias's earlier versions in
a tag of the registered model.

Example:
    >>> registry = MlflowRegistry("sqlite:///registry/mlflow.db")
    >>> registry.push("runs/sst2/bundle", "sentiment")
    1
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import BundleError, ConfigError
from .model_registry import NAME, STAGE, parse_uri

EXPERIMENT = "tuneforge-registry"


def _mlflow():
    try:
        import mlflow
        from mlflow import MlflowClient
    except ImportError:
        raise ConfigError("the MLflow registry needs mlflow: pip install 'tuneforge[mlflow]'") from None
    return mlflow, MlflowClient


class MlflowRegistry:
    """Named models with hash-checked versions and alias stages, in an MLflow model registry."""

    def __init__(self, uri: str, cache: str | Path | None = None) -> None:
        self.mlflow, client_class = _mlflow()
        self.uri = uri
        self.client = client_class(tracking_uri=uri, registry_uri=uri)
        base = Path(uri.removeprefix("sqlite:///")).parent if uri.startswith("sqlite:///") else Path.cwd()
        self.artifacts = base / "mlflow-artifacts"
        self.cache = Path(cache) if cache else base / "mlflow-bundles"

    def _check(self, name: str) -> None:
        if not NAME.match(name or ""):
            raise ConfigError(f"model name {name!r}: letters, digits, '.', '_' and '-' only (64 at most)")

    def _experiment(self) -> str:
        found = self.client.get_experiment_by_name(EXPERIMENT)
        if found is not None:
            return found.experiment_id
        return self.client.create_experiment(EXPERIMENT, artifact_location=self.artifacts.resolve().as_uri())

    def _version(self, name: str, version: int):
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version(name, str(version))
        except MlflowException:
            raise ConfigError(f"{name} has no version {version}") from None

    def push(self, bundle: str | Path, name: str) -> int:
        """Log a verified bundle as a run artifact and register it as the next version of ``name``."""
        from mlflow.exceptions import MlflowException

        from .bundle import MANIFEST, read_manifest
        from .fileops import sha256_file

        self._check(name)
        manifest = read_manifest(bundle, verify=True)
        run = self.client.create_run(self._experiment(), tags={"tuneforge.bundle": str(Path(bundle).resolve())})
        self.client.log_artifacts(run.info.run_id, str(bundle), artifact_path="bundle")
        self.client.set_terminated(run.info.run_id)
        try:
            self.client.create_registered_model(name)
        except MlflowException:
            pass  # it exists
        version = self.client.create_model_version(
            name, source=f"{run.info.artifact_uri}/bundle", run_id=run.info.run_id,
            tags={"manifest_sha256": sha256_file(Path(bundle) / MANIFEST), "task": manifest.task.type,
                  "metrics": json.dumps(manifest.metrics or {})})
        return int(version.version)

    def verify(self, name: str, version: int) -> Path:
        """The version's bundle, downloaded to the cache and checked against its manifest and the sha256
        recorded at push time."""
        from .bundle import MANIFEST, read_manifest
        from .fileops import replace_dir, sha256_file

        record = self._version(name, version)
        target = self.cache / name / str(version)
        staging = self.cache / name / f".{version}.download"
        staging.parent.mkdir(parents=True, exist_ok=True)
        self.mlflow.artifacts.download_artifacts(run_id=record.run_id, artifact_path="bundle", dst_path=str(staging),
                                                 tracking_uri=self.uri)
        replace_dir(staging / "bundle", target)
        read_manifest(target, verify=True)
        if sha256_file(target / MANIFEST) != record.tags.get("manifest_sha256"):
            raise BundleError(f"{name} version {version}: the bundle's manifest is not the one pushed (its sha256 "
                              "differs from the registry's record); the version was tampered with")
        return target

    def _aliases(self, name: str) -> dict[str, int]:
        model = self.client.get_registered_model(name)
        return {alias: int(v) for alias, v in (model.aliases or {}).items()}

    def resolve(self, uri: str) -> Path:
        """The verified bundle folder a ``registry://NAME@STAGE|VERSION`` names."""
        name, which = parse_uri(uri)
        if which.isdigit():
            return self.verify(name, int(which))
        version = self._aliases(name).get(which)
        if version is None:
            raise ConfigError(f"{name} has no version in stage {which!r}")
        return self.verify(name, version)

    def _previous(self, name: str) -> dict[str, list[int]]:
        return json.loads(self.client.get_registered_model(name).tags.get("tuneforge.previous", "{}"))

    def promote(self, name: str, version: int, stage: str = "production") -> None:
        """Point alias ``stage`` at (verified) ``version``; rollback returns it to what it held before."""
        if not STAGE.match(stage):
            raise ConfigError(f"stage {stage!r}: lower-case letters, digits, '_' and '-'")
        self.verify(name, version)
        current = self._aliases(name).get(stage)
        if current is not None and current != version:
            previous = self._previous(name)
            previous.setdefault(stage, []).append(current)
            self.client.set_registered_model_tag(name, "tuneforge.previous", json.dumps(previous))
        self.client.set_registered_model_alias(name, stage, str(version))

    def rollback(self, name: str, stage: str = "production") -> int:
        """Move alias ``stage`` back to the version it held before; returns that version."""
        previous = self._previous(name)
        if stage not in self._aliases(name) or not previous.get(stage):
            raise ConfigError(f"{name}: stage {stage!r} has no earlier version to roll back to")
        version = previous[stage].pop()
        self.verify(name, version)
        self.client.set_registered_model_tag(name, "tuneforge.previous", json.dumps(previous))
        self.client.set_registered_model_alias(name, stage, str(version))
        return version

    def list(self, name: str | None = None) -> list[dict[str, Any]]:
        """One row per version, as ``FolderRegistry.list``."""
        if name:
            self._check(name)
        names = [name] if name else [m.name for m in self.client.search_registered_models()]
        rows = []
        for model in names:
            aliases = self._aliases(model)
            for v in sorted(self.client.search_model_versions(f"name='{model}'"), key=lambda v: int(v.version)):
                rows.append({"name": model, "version": int(v.version),
                             "stages": sorted(a for a, n in aliases.items() if n == int(v.version)),
                             "created": str(v.creation_timestamp), "source": v.source, "task": v.tags.get("task"),
                             "metrics": json.loads(v.tags.get("metrics", "{}"))})
        return rows
