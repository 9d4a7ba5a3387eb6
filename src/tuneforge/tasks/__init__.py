"""Tasks: how examples become model inputs, and how model outputs become predictions and metrics."""

from __future__ import annotations

from ..registry import Registry
from .base import Task

TASKS: Registry[Task] = Registry("task")
DEFAULT_TASK = "classification"  # what a config without task.type trains

from . import classification, token_classification  # noqa: E402,F401  (register themselves)


def get_task(name: str) -> Task:
    """Return the task object registered as ``name``."""
    return TASKS.get(name)
