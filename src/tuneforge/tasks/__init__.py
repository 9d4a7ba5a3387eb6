"""Tasks: how examples become model inputs, and how model outputs become predictions and metrics."""

from __future__ import annotations

from ..registry import Registry
from .base import Task

TASKS: Registry[Task] = Registry("task")
DEFAULT_TASK = "classification"  # what a config without task.type trains



def _import_all() -> None:
    """Import every module of this package: each task registers itself where it is defined, so a new
    task is one new module and nothing else names it."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")


_import_all()


def get_task(name: str) -> Task:
    """Return the task object registered as ``name``."""
    return TASKS.get(name)
