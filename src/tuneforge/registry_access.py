"""Which model registry a command uses: the folder registry (``--registry DIR``, default
``$TUNEFORGE_REGISTRY`` or ``./registry``) or MLflow's (``--mlflow URI``)."""

from __future__ import annotations

from pathlib import Path


def open_registry(folder: str | Path | None = None, mlflow_uri: str | None = None):
    """A ``FolderRegistry``, or an ``MlflowRegistry`` when ``mlflow_uri`` is given."""
    if mlflow_uri:
        from .mlflow_registry import MlflowRegistry

        return MlflowRegistry(mlflow_uri)
    from .model_registry import FolderRegistry, registry_folder

    return FolderRegistry(registry_folder(folder))


def bundle_argument(bundle: str, registry: str | Path | None = None, mlflow_uri: str | None = None) -> str:
    """A command's bundle argument as a folder: ``registry://NAME@STAGE|VERSION`` resolved (and verified)
    in the registry; anything else as given."""
    from .model_registry import SCHEME

    if bundle.startswith(SCHEME):
        return str(open_registry(registry, mlflow_uri).resolve(bundle))
    return bundle
