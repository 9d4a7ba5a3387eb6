"""``tuneforge registry``: push bundles as immutable versions, list them, promote to a stage, roll back."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .cli_support import _console, _run, _setup_logging

registry_app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                           help="A model registry in a folder: versions, stages, rollback.")
REGISTRY_HELP = "registry folder (default $TUNEFORGE_REGISTRY or ./registry)"
MLFLOW_HELP = "use MLflow's model registry at this tracking URI instead (e.g. sqlite:///registry/mlflow.db)"


def _registry(folder: Optional[Path], mlflow: Optional[str] = None):
    from .registry_access import open_registry

    return open_registry(folder, mlflow)


@registry_app.command("push")
def push(
    bundle: Path = typer.Argument(..., help="bundle folder to register"),
    name: str = typer.Option(..., "--name", "-n", help="the model's name in the registry"),
    registry: Optional[Path] = typer.Option(None, "--registry", help=REGISTRY_HELP),
    mlflow: Optional[str] = typer.Option(None, "--mlflow", help=MLFLOW_HELP),
) -> None:
    """Copy a (verified) bundle in as the next version of NAME."""
    _setup_logging()
    version = _run(lambda: _registry(registry, mlflow).push(bundle, name))
    _console().print(f"{name} version {version} (registry://{name}@{version})", highlight=False)


@registry_app.command("list")
def list_versions(
    name: Optional[str] = typer.Argument(None, help="one model (default: all)"),
    registry: Optional[Path] = typer.Option(None, "--registry", help=REGISTRY_HELP),
    mlflow: Optional[str] = typer.Option(None, "--mlflow", help=MLFLOW_HELP),
) -> None:
    """Every version: its stages, when it was pushed, its task and headline metrics."""
    from rich.table import Table

    rows = _run(lambda: _registry(registry, mlflow).list(name))
    table = Table(title="registry")
    for column in ("name", "version", "stages", "created", "task", "metrics"):
        table.add_column(column)
    for r in rows:
        metrics = ", ".join(f"{k} {v:.4f}" for k, v in list((r["metrics"] or {}).items())[:3] if isinstance(v, float))
        table.add_row(r["name"], str(r["version"]), ", ".join(r["stages"]), r["created"], r["task"], metrics)
    _console().print(table)


@registry_app.command("promote")
def promote(
    name: str = typer.Argument(..., help="the model"),
    version: int = typer.Argument(..., help="the version to promote"),
    stage: str = typer.Option("production", "--stage", help="the stage (production, staging, ...)"),
    registry: Optional[Path] = typer.Option(None, "--registry", help=REGISTRY_HELP),
    mlflow: Optional[str] = typer.Option(None, "--mlflow", help=MLFLOW_HELP),
) -> None:
    """Put a version (verified first) in a stage; rollback returns the stage to what it held before."""
    _run(lambda: _registry(registry, mlflow).promote(name, version, stage))
    _console().print(f"{name}@{stage} -> version {version}", highlight=False)


@registry_app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="the model"),
    stage: str = typer.Option("production", "--stage", help="the stage to roll back"),
    registry: Optional[Path] = typer.Option(None, "--registry", help=REGISTRY_HELP),
    mlflow: Optional[str] = typer.Option(None, "--mlflow", help=MLFLOW_HELP),
) -> None:
    """Move a stage back to the version it held before its current one."""
    version = _run(lambda: _registry(registry, mlflow).rollback(name, stage))
    _console().print(f"{name}@{stage} -> version {version} (rolled back)", highlight=False)
