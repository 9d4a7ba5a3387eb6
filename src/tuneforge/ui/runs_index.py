"""What the runs folder holds, read from the files every run writes (config.yaml, metrics.json,
log_history.json, train.log, report.html, bundle/tuneforge.json, FAILED, CANCELLED): one row per run for
the runs table, the details of one run for its page, and the method comparisons and searches beside them.

Example:
    >>> [(r.name, r.status) for r in scan_runs(Path("runs"))][:1]
    [('demo', 'finished')]
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import safe_yaml
from ..errors import TuneForgeError
from ..outputs import RUN_MARKERS
from .paths import stays_in

log = logging.getLogger("tuneforge")

CANCELLED = "CANCELLED"
FAILED = "FAILED"
STATUSES = ("running", "finished", "failed", "cancelled", "incomplete")
FRESH_SECONDS = 120  # a run nobody here started counts as running while its log moved this recently
MAX_DEPTH = 3
LOG_TAIL_LINES = 300
NOT_RUNS = {".ui", "checkpoints", "tensorboard", "bundle", "compressed", "ui-screenshots"}


@dataclass
class RunInfo:
    """One run folder as the runs table shows it."""

    name: str  # the folder, relative to the runs folder (also its address in the UI)
    path: Path
    status: str
    task: str = ""
    method: str = ""
    model: str = ""
    metric: str = ""
    value: float | None = None
    split: str = ""
    started: float | None = None
    seconds: float | None = None
    size_mb: float | None = None
    error: str = ""
    has_report: bool = False
    has_bundle: bool = False

    @property
    def started_text(self) -> str:
        """The start time as people read it."""
        return datetime.fromtimestamp(self.started).strftime("%Y-%m-%d %H:%M:%S") if self.started else ""

    @property
    def duration_text(self) -> str:
        """``3m05s``, or ``12s``."""
        if self.seconds is None:
            return ""
        minutes, sec = divmod(int(round(self.seconds)), 60)
        return f"{minutes}m{sec:02d}s" if minutes else f"{sec}s"


@dataclass
class SearchInfo:
    """A method comparison (comparison.json) or a hyperparameter search (study.db, trials)."""

    name: str
    path: Path
    kind: str  # "compare" or "tune"
    rows: list[dict[str, Any]] = field(default_factory=list)
    started: float | None = None


def read_json(path: Path) -> Any:
    """A JSON file's content, or None when missing or unreadable (a run still writing it)."""
    if not stays_in(path):
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def read_config(run: Path) -> dict[str, Any]:
    """The run's config.yaml as a mapping ({} when missing or unreadable)."""
    if not stays_in(run / "config.yaml"):
        return {}
    try:
        raw = safe_yaml((run / "config.yaml").read_text(encoding="utf-8"), str(run / "config.yaml"))
    except (OSError, UnicodeDecodeError, TuneForgeError):
        return {}
    return raw if isinstance(raw, dict) else {}


def is_run(folder: Path) -> bool:
    """A training run's folder: it holds config.yaml or train.log (what every run writes first)."""
    return any((folder / marker).is_file() for marker in RUN_MARKERS) or (folder / CANCELLED).is_file()


def folder_mb(folder: Path) -> float:
    """Size of the files below ``folder`` in MB (symlinks not followed)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            continue
    return round(total / 2**20, 2)


def headline(metrics: dict[str, Any], task_type: str, chosen: str | None) -> tuple[str, float | None]:
    """The metric a run is judged by: the config's ``eval.metric``, else the task's headline metric, else
    the first number in metrics.json."""
    from ..tasks import TASKS

    names = [chosen] if chosen else []
    if task_type in TASKS:
        names.append(TASKS.get(task_type).default_metric)
    for name in names:
        if isinstance(metrics.get(name), (int, float)):
            return name, float(metrics[name])
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key != "n":
            return key, float(value)
    return "", None


def run_metrics(folder: Path) -> dict[str, Any]:
    """metrics.json, or for a few-shot run (one run per seed) the mean over seeds from fewshot.json."""
    metrics = read_json(folder / "metrics.json")
    if isinstance(metrics, dict):
        return metrics
    few_shot = read_json(folder / "fewshot.json")
    summary = few_shot.get("summary") if isinstance(few_shot, dict) else None
    if isinstance(summary, dict):
        means = {k: v["mean"] for k, v in summary.items() if isinstance(v, dict) and "mean" in v}
        return {"split": "mean over seeds", **means} if means else {}
    return {}


def run_info(runs_dir: Path, folder: Path, running: set[Path] = frozenset()) -> RunInfo:
    """The runs-table row of one run folder; ``running`` holds the folders of processes this UI started."""
    cfg = read_config(folder)
    metrics = run_metrics(folder)
    section = lambda key: cfg.get(key) if isinstance(cfg.get(key), dict) else {}  # noqa: E731
    task, method = str(section("task").get("type", "")), str(section("method").get("name", ""))
    metric, value = headline(metrics, task, section("eval").get("metric"))
    log_file, config_file = folder / "train.log", folder / "config.yaml"
    stamps = [p.stat().st_mtime for p in (config_file, log_file) if p.is_file()]
    started = min(stamps) if stamps else None
    last = max([p.stat().st_mtime for p in (log_file, folder / "metrics.json") if p.is_file()] or [0.0])
    has_bundle = (folder / "bundle" / "tuneforge.json").is_file()
    error = ""
    if (folder / CANCELLED).is_file():
        status = "cancelled"
    elif folder.resolve() in running:
        status = "running"
    elif (folder / FAILED).is_file():
        status = "failed"
        error = _first_line(folder / FAILED)
    elif metrics:
        status = "finished"
    elif last and time.time() - last < FRESH_SECONDS:
        status = "running"
    else:
        status = "incomplete"
    return RunInfo(
        name=str(folder.relative_to(runs_dir)), path=folder, status=status, task=task, method=method,
        model=Path(str(section("model").get("name", ""))).name or "", metric=metric, value=value,
        split=str(metrics.get("split", "")), started=started,
        seconds=(last - started) if started and last and status != "running" else None,
        size_mb=folder_mb(folder / "bundle") if has_bundle else None, error=error,
        has_report=(folder / "report.html").is_file(), has_bundle=has_bundle)


def _first_line(path: Path) -> str:
    if not stays_in(path):
        return ""
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[0][:500]
    except (OSError, IndexError):
        return ""


def _walk(runs_dir: Path):
    """Run folders and search folders below ``runs_dir`` (a few levels; run internals skipped)."""
    pending = [(runs_dir, 0)]
    while pending:
        folder, depth = pending.pop()
        try:
            children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink())
        except OSError:
            continue
        for child in children:
            if child.name in NOT_RUNS or child.name.startswith("."):
                continue
            if is_run(child):
                yield "run", child
            elif (child / "comparison.json").is_file() or (child / "study.db").is_file() \
                    or (child / "summary.json").is_file():
                yield "search", child
            if not is_run(child) and depth + 1 < MAX_DEPTH:
                pending.append((child, depth + 1))


def scan_runs(runs_dir: Path, running: set[Path] = frozenset()) -> list[RunInfo]:
    """Every run below ``runs_dir``, newest first."""
    if not runs_dir.is_dir():
        return []
    runs = [run_info(runs_dir, folder, running) for kind, folder in _walk(runs_dir) if kind == "run"]
    return sorted(runs, key=lambda r: r.started or 0.0, reverse=True)


def scan_searches(runs_dir: Path) -> list[SearchInfo]:
    """Every method comparison and hyperparameter search below ``runs_dir``, newest first."""
    if not runs_dir.is_dir():
        return []
    found = [search_info(runs_dir, folder) for kind, folder in _walk(runs_dir) if kind == "search"]
    return sorted(found, key=lambda s: s.started or 0.0, reverse=True)


def search_info(runs_dir: Path, folder: Path, kind: str | None = None) -> SearchInfo:
    """A comparison's rows (comparison.json) or a search's finished trials (each trial folder's metrics);
    ``kind`` names what a folder with no results yet will be."""
    name = str(folder.relative_to(runs_dir)) if folder.is_relative_to(runs_dir) else folder.name
    started = folder.stat().st_mtime if folder.exists() else None
    comparison = read_json(folder / "comparison.json")
    if isinstance(comparison, dict):
        rows = comparison.get("rows", [])
        return SearchInfo(name, folder, "compare", [r for r in rows if isinstance(r, dict)], started)
    trials = read_json(folder / "trials.json")
    if isinstance(trials, list):
        return SearchInfo(name, folder, "tune", [r for r in trials if isinstance(r, dict)], started)
    rows = []
    for trial in sorted((folder / "trials").glob("trial-*")) if (folder / "trials").is_dir() else []:
        if trial.is_relative_to(runs_dir):
            info = run_info(runs_dir, trial)
            rows.append({"trial": trial.name, "status": info.status, "metric": info.metric, "value": info.value})
    searching = rows or (folder / "study.db").is_file() or kind != "compare"
    return SearchInfo(name, folder, "tune" if searching else "compare", rows, started)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES, max_bytes: int = 200_000) -> str:
    """The last ``lines`` lines of a log (carriage-return progress redraws as lines of their own)."""
    if not stays_in(path):
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.replace("\r\n", "\n").replace("\r", "\n").splitlines()[-lines:])


def curves(folder: Path) -> dict[str, list[tuple[float, float]]]:
    """Learning curves from log_history.json: ``{series: [(step, value), ...]}`` (training loss, validation
    loss and the validation metrics)."""
    history = read_json(folder / "log_history.json")
    series: dict[str, list[tuple[float, float]]] = {}
    for entry in history if isinstance(history, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("step"), (int, float)):
            continue
        for key, value in entry.items():
            if key in ("step", "epoch", "total_flos", "learning_rate", "grad_norm") or key.endswith(
                    ("runtime", "per_second")) or key.startswith("train_"):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value:
                series.setdefault(key, []).append((float(entry["step"]), float(value)))
    return series


def flat_metrics(metrics: Any) -> dict[str, float]:
    """The top-level numbers of metrics.json (per-class tables and matrices left out)."""
    if not isinstance(metrics, dict):
        return {}
    return {k: float(v) for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}
