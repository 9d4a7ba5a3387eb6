"""``tuneforge init DATA_FILE``: a commented starter config, sized to the data, that trains without edits.

The data file is profiled (``tuneforge.data.profile``); every registered task says whether the data fits
it (``Task.starter``) and the best fit wins; every method may claim the situation (``Method.starter_choice``,
e.g. few examples or a language model), else the default method trains. The schedule is sized so that
training takes enough optimizer steps to move the model, the loss curve has points, and the evaluation
splits are as large as the data allows.

Example:
    >>> starter = starter_config("examples/support_tickets.csv")
    >>> starter.task, starter.method
    ('classification', 'setfit')
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from .config import load_config
from .data.profile import DataProfile, profile_file
from .errors import ConfigError
from .methods import DEFAULT_METHOD, METHODS
from .tasks import TASKS, get_task

TARGET_STEPS = 60  # fewer optimizer steps barely move a pretrained model (the guardrail warns under 50)
MIN_EVAL_ROWS = 30  # evaluation splits smaller than this cannot measure the model
UNITS = {"conll": "sentences", "idx": "images", "imagefolder": "images"}


@dataclass
class StarterConfig:
    """A starter config: its YAML text and the choices it made."""

    text: str
    task: str
    method: str
    profile: DataProfile


def _value(value: Any) -> str:
    """A value as inline YAML."""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip() \
        .removesuffix("\n...").strip()


def _line(indent: int, key: str, value: Any, comment: str = "") -> str:
    text = f"{'  ' * indent}{key}: {_value(value)}"
    return f"{text}   # {comment}" if comment else text


def _pick_task(profile: DataProfile, wanted: str | None):
    if wanted is not None:
        task = get_task(wanted)
        starter = task.starter(profile)
        if starter is None:
            raise ConfigError(f"{profile.path}: the data does not look like task {wanted}'s (columns: "
                              f"{', '.join(profile.columns) or 'none, CoNLL'}); write the config by hand "
                              "(see tuneforge tasks)")
        return wanted, starter
    found = [(starter, name) for name in TASKS.names() if (starter := get_task(name).starter(profile)) is not None]
    if not found:
        raise ConfigError(f"{profile.path}: cannot tell which column holds the text and which the label "
                          f"(columns: {', '.join(profile.columns)}); give --task, or rename them text and label")
    starter, name = max(found, key=lambda item: item[0].fit)
    return name, starter


def _pick_method(task, n_train: int, data: dict) -> tuple[str, str, dict, float | None]:
    for name in METHODS.names():
        choice = METHODS.get(name)().starter_choice(task, n_train, data)
        if choice is not None:
            return (name, *choice)
    return DEFAULT_METHOD, "", {}, None


def _split_share(n_rows: int) -> float:
    """Validation and test shares carved from one file: at least ``MIN_EVAL_ROWS`` rows each where the
    data allows, never more than a quarter."""
    return round(min(0.25, max(0.1, MIN_EVAL_ROWS / max(n_rows, 1))), 2)


def _schedule(n_train: int, given: dict[str, Any], learning_rate: float | None) -> list[str]:
    """The ``train:`` lines: enough optimizer steps to move the model, points on the loss curve, early
    stopping; ``given`` (the task's own settings) wins."""
    batch = given.get("batch_size") or (8 if n_train < 1000 else 16 if n_train < 10_000 else 32)
    steps_per_epoch = math.ceil(n_train / batch)
    epochs = given.get("epochs") or min(30, max(3, math.ceil(TARGET_STEPS / steps_per_epoch)))
    total = math.ceil(steps_per_epoch * epochs)
    lines = [_line(1, "epochs", epochs, f"{steps_per_epoch} steps per epoch, {total} in all"),
             _line(1, "batch_size", batch)]
    if learning_rate:
        lines.append(_line(1, "learning_rate", learning_rate))
    lines.append(_line(1, "logging_steps", max(1, min(50, total // 20)), "about 20 points on the loss curve"))
    if steps_per_epoch > 1000:
        lines.append(_line(1, "eval_steps", 500, "evaluate and keep the best checkpoint every 500 steps"))
    if "early_stopping_patience" in given:
        lines.append(_line(1, "early_stopping_patience", given["early_stopping_patience"]))
    else:
        lines.append(_line(1, "early_stopping_patience", 3 if epochs >= 10 else 2,
                           "evaluations without improvement; never before the metric first moves"))
    lines.extend(_line(1, key, value) for key, value in given.items()
                 if key not in ("batch_size", "epochs", "early_stopping_patience"))
    return lines


def starter_config(data_file: str | Path, task: str | None = None, data_format: str | None = None,
                   config_dir: str | Path | None = None) -> StarterConfig:
    """A starter config for ``data_file`` (paths written relative to ``config_dir``, default the data's folder)."""
    profile = profile_file(data_file, data_format)
    name, starter = _pick_task(profile, task)
    task_obj = get_task(name)
    share = _split_share(profile.n_rows)
    n_train = max(1, int(profile.n_rows * (1 - 2 * share)))
    method, why, method_options, learning_rate = _pick_method(task_obj, n_train, starter.data)
    method_cls = METHODS.get(method)
    folder = Path(config_dir) if config_dir is not None else profile.path.parent
    try:
        train_path, where = str(profile.path.resolve().relative_to(folder.resolve())), "relative to this file"
    except ValueError:
        train_path, where = str(profile.path.resolve()), ""

    lines = [f"# Starter config for {profile.path.name}, written by `tuneforge init` on {date.today()}.",
             f"# {profile.n_rows} {UNITS.get(profile.format, 'rows')} ({profile.format}); task {name}: "
             + "; ".join(starter.notes) + ".",
             "# Check it with `tuneforge check`, then train with `tuneforge train` (both take this file).",
             f"name: {_value(profile.path.stem)}", "data:",
             _line(1, "train", train_path, where)]
    if data_format is not None:
        lines.append(_line(1, "format", data_format))
    lines.extend(_line(1, key, value) for key, value in starter.data.items())
    lines.append(_line(1, "split", {"validation": share, "test": share, "seed": 42},
                       "no separate validation/test files: both carved from train"))
    lines.append("task:")
    lines.append(_line(1, "type", name))
    lines.extend(_line(1, key, value) for key, value in starter.options.items())
    lines.append("method:")
    lines.append(_line(1, "name", method, why))
    lines.extend(_line(1, key, value) for key, value in method_options.items())
    if starter.model:
        lines.append("model:")
        lines.extend(_line(1, key, value) for key, value in starter.model.items())
    if method_cls.uses_trainer:
        lines.append("train:")
        lines.extend(_schedule(min(n_train, starter.data.get("max_train_samples") or n_train), starter.train,
                               learning_rate or method_cls.default_learning_rate))
    text = "\n".join(lines) + "\n"
    return StarterConfig(text, name, method, profile)


def write_starter_config(data_file: str | Path, output: str | Path | None = None, task: str | None = None,
                         data_format: str | None = None, force: bool = False) -> tuple[Path, StarterConfig]:
    """Write a starter config for ``data_file`` (default: ``<data stem>.yaml`` beside it) and check that it
    loads; an existing file is kept unless ``force``."""
    data_file = Path(data_file)
    path = Path(output) if output is not None else data_file.with_suffix(".yaml")
    if path.resolve() == data_file.resolve() or path.suffix.lower() not in (".yaml", ".yml"):
        raise ConfigError(f"{path}: the config must be a new .yaml file, not the data file or another kind of file")
    if path.exists() and not force:
        raise ConfigError(f"{path.absolute()} exists; pass --output OTHER.yaml or --force to replace it")
    starter = starter_config(data_file, task, data_format, config_dir=path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(starter.text, encoding="utf-8")
    load_config(path)  # what it wrote is a valid config
    return path, starter
