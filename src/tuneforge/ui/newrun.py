"""The new-run flow behind the form: look at a data file (``profile_file``: first rows, columns; ``starter_config``:
the task, labels, method and a YAML that trains without edits), rewrite that YAML for the task, method, model
and options picked in the form, then validate the (possibly hand-edited) YAML with ``load_config`` and start
an ordinary ``tuneforge train`` (or ``compare``, ``tune``, ``data check``) process on it.

Example:
    >>> shown = preview(Path("examples/support_tickets.csv"), runs_dir=Path("runs"))
    >>> shown.task, shown.label_column
    ('classification', 'label')
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from ..config import load_config, safe_yaml
from ..errors import ConfigError, TuneForgeError
from ..methods import METHODS
from ..outputs import run_folder
from ..starter_config import starter_config
from ..tasks import TASKS
from .forms import section_values
from .jobs import Job, JobManager
from .paths import inside

PREVIEW_ROWS = 10
MAX_CELL = 200
MAX_YAML_CHARS = 100_000
WEEK = 7 * 24 * 3600
NAME = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class Preview:
    """What the form shows about a data file before anything runs."""

    path: Path
    format: str = ""
    n_rows: int = 0
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    text_column: str | None = None
    pair_column: str | None = None
    label_column: str | None = None
    labels: list[tuple[str, int]] = field(default_factory=list)
    task: str = ""
    method: str = ""
    yaml: str = ""
    name: str = ""
    problem: str = ""


def safe_name(text: str, fallback: str = "run") -> str:
    """A run name usable as a file and folder name (letters, digits, ``_.-``)."""
    cleaned = NAME.sub("-", str(text or "")).strip("-.")[:80]
    return cleaned or fallback


def _cell(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if isinstance(value, (list, dict)) else str(value)
    return text if len(text) <= MAX_CELL else text[:MAX_CELL] + "…"


def preview(path: Path, runs_dir: Path, task: str | None = None) -> Preview:
    """The first rows, the columns, the detected text/label columns and labels, and the starter config
    (task, method, YAML) of a data file; ``problem`` says why the file cannot be used."""
    from ..data.profile import profile_file

    shown = Preview(path=path, name=safe_name(path.stem))
    try:
        profile = profile_file(path)
        shown.format, shown.n_rows, shown.columns = profile.format, profile.n_rows, list(profile.columns)
        shown.rows = [[_cell(row.get(c, "")) for c in profile.columns] for row in profile.rows[:PREVIEW_ROWS]]
        if profile.columns:
            shown.text_column, shown.pair_column, shown.label_column = profile.text_pair_label()
        if shown.label_column:
            values = profile.values(shown.label_column)
            delimiter = profile.label_lists(shown.label_column)
            parts = ([v for value in values for v in (value if isinstance(value, list) else [value])]
                     if delimiter == "list" else
                     [p.strip() for value in values for p in str(value).split(delimiter)] if delimiter else values)
            shown.labels = Counter(_cell(v) for v in parts).most_common(30)
        starter = starter_config(path, task, config_dir=runs_dir / ".ui" / "jobs")
        shown.task, shown.method, shown.yaml = starter.task, starter.method, starter.text
    except TuneForgeError as exc:
        shown.problem = str(exc)
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # a reader's own complaint about a malformed file
        shown.problem = f"{path.name}: cannot read it as a data file ({type(exc).__name__}: {str(exc)[:300]})"
    return shown


def yaml_for(path: Path, runs_dir: Path, name: str = "", task: str = "", method: str = "", model: str = "",
             task_options: dict[str, Any] | None = None, method_options: dict[str, Any] | None = None) -> str:
    """The starter YAML of ``path`` with the form's choices applied: task (and its options), method (and
    its options, plus its learning rate when it declares one), model, and name. Unchanged choices give
    the starter config itself, comments included."""
    starter = starter_config(path, task or None, config_dir=runs_dir / ".ui" / "jobs")
    task_values = section_values(TASKS, starter.task, task_options or {})
    method = method or starter.method
    method_values = section_values(METHODS, method, method_options or {})
    model = model.strip()
    if (method == starter.method and not task_values and not method_values and model in ("", "default")
            and (not name or name == safe_name(path.stem))):
        return starter.text
    raw = yaml.safe_load(starter.text)
    if name:
        raw["name"] = safe_name(name)
    raw["task"] = {**raw.get("task", {}), **task_values}
    if method != starter.method:
        raw["method"] = {"name": method, **method_values}
        chosen = METHODS.get(method)
        if chosen.uses_trainer and chosen.default_learning_rate:
            raw.setdefault("train", {})["learning_rate"] = chosen.default_learning_rate
    else:
        raw["method"] = {**raw.get("method", {}), **method_values}
    if model and model != "default":
        raw.setdefault("model", {})["name"] = model
    header = (f"# Written by the TuneForge web interface for {path.name}: task {raw['task'].get('type')}, "
              f"method {raw['method'].get('name')}.\n")
    return header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True, width=120)


def check_paths(cfg, roots: list[Path]) -> None:
    """Refuse a config that would make the run read or write outside the folders the UI may use: every
    string in it (data files, model and bundle folders, synonym lists, the search space's choices...) that
    is absolute, starts with ``~`` or climbs with ``..`` must resolve inside ``roots``; a relative one
    stays inside the first root by construction. URLs (an MLflow server, a remote store) are refused."""
    for key, value in _strings(cfg.model_dump(mode="json")):
        if "://" in value or value.startswith(("file:", "sqlite:")):
            raise ConfigError(f"{key}: the web interface does not start runs that reach a URL ({value[:80]}); "
                              "use tuneforge on the command line for that")
        if Path(value).is_absolute() or value.startswith("~") or ".." in Path(value).parts:
            inside(value, roots, must_exist=False)


def _strings(value: Any, key: str = "") -> list[tuple[str, str]]:
    """Every string in a config dump, with its dotted key (lists and the search space included)."""
    if isinstance(value, str):
        return [(key, value)]
    if isinstance(value, dict):
        return [found for k, v in value.items() for found in _strings(v, f"{key}.{k}" if key else str(k))]
    if isinstance(value, (list, tuple)):
        return [found for v in value for found in _strings(v, key)]
    return []


def out_folder(runs_dir: Path, base: str, taken: set[Path]) -> Path:
    """``runs_dir/base``, or with ``-2``, ``-3``... when that exists or another job is writing it."""
    candidate, number = runs_dir / base, 1
    while candidate.exists() or candidate.resolve() in taken:
        number += 1
        candidate = runs_dir / f"{base}-{number}"
    return candidate


def _number(value: Any, what: str, low: float, high: float, unit: str = "seconds") -> int:
    try:
        number = int(float(str(value).strip()))
    except ValueError:
        raise ConfigError(f"{what}: give a number of {unit}") from None
    if not low <= number <= high:
        raise ConfigError(f"{what}: between {low:g} and {high:g} {unit}")
    return number


def command(kind: str, config: Path, cfg, out_dir: Path, settings: dict[str, Any]) -> list[str]:
    """The ``tuneforge`` arguments of a job: ``train CONFIG output.dir=DIR``, or compare/tune with a budget."""
    target = f"output.dir={json.dumps(str(out_dir))}"  # a JSON string is a YAML string, whatever the path holds
    if kind == "train":
        return ["train", str(config), target]
    if kind == "compare":
        methods = [m for m in settings.get("methods", []) if m]
        if not methods:
            raise ConfigError("pick at least one method to compare")
        for name in methods:
            METHODS.get(name)
        budget = _number(settings.get("budget", 600), "budget", 1, WEEK)
        return ["compare", str(config), "--methods", ",".join(methods), "--budget", str(budget),
                "--output", str(out_dir)]
    if kind == "tune":
        trials = _number(settings.get("trials", 8), "trials", 1, 1000, "trials")
        args = ["tune", str(config), target, "--trials", str(trials)]
        if str(settings.get("timeout", "")).strip():
            args += ["--timeout", str(_number(settings["timeout"], "time limit", 1, WEEK))]
        return args
    raise ConfigError(f"unknown kind of run {kind!r}")


def start_run(jobs: JobManager, kind: str, text: str, name: str, roots: list[Path],
              settings: dict[str, Any] | None = None) -> Job:
    """Write the YAML into a new job folder (outside the run folder), validate it as ``tuneforge train``
    would (``load_config``), pick the output folder under the runs folder, and start the process."""
    if len(text) > MAX_YAML_CHARS:
        raise ConfigError(f"the YAML is over {MAX_YAML_CHARS:,} characters")
    stem = safe_name(name)
    job_id, folder = jobs.new_folder()
    try:
        config = folder / f"{stem}.yaml"
        config.write_text(text, encoding="utf-8")
        cfg = load_config(config)
        check_paths(cfg, roots)
        taken = jobs.running_folders()
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        name = safe_name(cfg.name)  # a name is a folder name here: never a path
        base = {"train": safe_name(run_folder(cfg.model_copy(update={"name": name, "output": cfg.output.model_copy(
                    update={"dir": None})})).name),
                "compare": f"{name}-compare-{stamp}", "tune": f"{name}-tune-{stamp}"}.get(kind, "")
        if not base:
            raise ConfigError(f"unknown kind of run {kind!r}")
        out_dir = out_folder(jobs.runs_dir, base, taken).absolute()
        if not out_dir.resolve().is_relative_to(jobs.runs_dir.resolve()):
            raise ConfigError(f"{base}: the run folder must lie inside the runs folder")
        args = command(kind, config, cfg, out_dir, settings or {})
        return jobs.start(kind, args, cfg.name, out_dir, folder, job_id, {"config": str(config)})
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def start_check(jobs: JobManager, data: Path, task: str = "", near: bool = True, label_errors: bool = True) -> Job:
    """Start ``tuneforge data check`` on a data file; its report goes into the job's own folder."""
    if task:
        TASKS.get(task)
    job_id, folder = jobs.new_folder()
    out_dir = (folder / "report").absolute()
    args = ["data", "check", str(data), "--output", str(out_dir)]
    args += (["--task", task] if task else []) + ([] if near else ["--no-near-duplicates"])
    args += [] if label_errors else ["--no-label-errors"]
    try:
        return jobs.start("check", args, data.name, out_dir, folder, job_id, {"data": str(data)})
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def edited_config_problem(text: str) -> str:
    """A quick YAML syntax check for the editor ('' when it parses as a mapping)."""
    try:
        raw = safe_yaml(text, "the YAML")
    except TuneForgeError as exc:
        return str(exc)
    return "" if isinstance(raw, dict) else "the YAML must be a mapping of sections (name, data, task, ...)"
