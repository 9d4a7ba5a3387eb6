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


def task_reading_only(fmt: str | None) -> str | None:
    """The task that alone reads the data format ``fmt`` (CoNLL: entity tagging), if exactly one does:
    what a config without ``task.type`` trains on such data."""
    if fmt is None:
        return None
    readers = [name for name in TASKS.names() if fmt in get_task(name).formats]
    return readers[0] if len(readers) == 1 else None


def read_examples(path, *, task_type: str, data_format: str | None = None, require_labels: bool = True,
                  **columns) -> list[dict]:
    """Read a data file into checked examples the way the task ``task_type`` reads it.

    ``columns`` are the data section's column options (``text_column``, ``label_column``, ...).

    Example:
        >>> read_examples("examples/support_tickets.csv", task_type="classification")[0]["label"]
        'billing'
    """
    from ..data.examples import DataColumns, read_task_file

    return read_task_file(get_task(task_type), path, data_format, DataColumns(**columns), require_labels)
