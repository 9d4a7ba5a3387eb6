"""Pages about runs that exist: the runs table (sortable, filterable), one run (its report, config, log,
metrics and curves), several runs side by side, and method comparisons and searches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from ..errors import TuneForgeError
from .charts import line_chart, overlaid
from .paths import inside, stays_in
from .runs_index import (
    STATUSES,
    curves,
    flat_metrics,
    is_run,
    log_tail,
    read_config,
    run_info,
    run_metrics,
    scan_runs,
    scan_searches,
    search_info,
)
from .web import problem_page, render, ui_of

router = APIRouter()

SORTS = {
    "name": lambda r: r.name.lower(), "status": lambda r: r.status, "task": lambda r: r.task,
    "method": lambda r: r.method, "model": lambda r: r.model.lower(), "metric": lambda r: (r.metric, r.value or 0.0),
    "value": lambda r: r.value if r.value is not None else float("-inf"), "started": lambda r: r.started or 0.0,
    "duration": lambda r: r.seconds or 0.0, "size": lambda r: r.size_mb or 0.0,
}
MAX_COMPARED = 8


def run_path(request: Request, name: str) -> Path:
    """The run folder called ``name`` (relative to the runs folder); PathRefused outside it, 404 if no run."""
    ui = ui_of(request)
    folder = inside(name, [ui.runs_dir])
    if not folder.is_dir() or not is_run(folder):
        raise TuneForgeError(f"no run called {name}")
    return folder


@router.get("/")
def home():
    """The runs table is the front page."""
    return RedirectResponse("/runs", status_code=303)


@router.get("/runs", response_class=HTMLResponse)
def runs_page(request: Request, q: str = "", status: str = "", task: str = "", method: str = "",
              sort: str = "started", order: str = "desc"):
    """Every run in the runs folder: name, status, task, method, model, headline metric, start, duration,
    bundle size; filtered by text, status, task and method, sorted by any column."""
    ui = ui_of(request)
    runs = scan_runs(ui.runs_dir, ui.jobs.running_folders())
    tasks, methods = sorted({r.task for r in runs if r.task}), sorted({r.method for r in runs if r.method})
    needle = q.strip().lower()
    shown = [r for r in runs
             if (not needle or needle in " ".join((r.name, r.task, r.method, r.model, r.status)).lower())
             and (not status or r.status == status) and (not task or r.task == task)
             and (not method or r.method == method)]
    sort = sort if sort in SORTS else "started"
    shown.sort(key=SORTS[sort], reverse=order != "asc")
    filters = {"q": q, "status": status, "task": task, "method": method}
    return render(request, "runs.html", title="Runs", runs=shown, total=len(runs), filters=filters,
                  sort=sort, order=order, statuses=STATUSES, tasks=tasks, methods=methods,
                  searches=scan_searches(ui.runs_dir)[:20], columns=list(SORTS))


@router.get("/runs/{name:path}", response_class=HTMLResponse)
def run_page(request: Request, name: str):
    """One run: its report (embedded, sandboxed), metrics, learning curves, config and log."""
    ui = ui_of(request)
    try:
        folder = run_path(request, name)
    except TuneForgeError as exc:
        return problem_page(request, 404, str(exc))
    info = run_info(ui.runs_dir, folder, ui.jobs.running_folders())
    metrics = run_metrics(folder)
    per_class = metrics.get("per_class") if isinstance(metrics, dict) else None
    series = curves(folder)
    charts = [line_chart({k: v for k, v in series.items() if k in ("loss", "eval_loss")}, "loss")]
    charts += [line_chart({k: v}, k) for k, v in series.items() if k not in ("loss", "eval_loss")]
    config = (folder / "config.yaml").read_text(encoding="utf-8", errors="replace") \
        if stays_in(folder / "config.yaml") else ""
    job = next((j for j in ui.jobs.listing() if Path(j.out_dir).resolve() == folder.resolve()), None)
    return render(request, "run.html", title=info.name, run=info, metrics=flat_metrics(metrics),
                  per_class=per_class if isinstance(per_class, dict) else None, charts=[c for c in charts if c],
                  config=config, log=log_tail(folder / "train.log"), job=job,
                  failed=(folder / "FAILED").read_text(encoding="utf-8", errors="replace")
                  if stays_in(folder / "FAILED") else "")


def _report(path: Path) -> HTMLResponse:
    if not stays_in(path):
        return HTMLResponse("<p>No report yet.</p>", status_code=404)
    return HTMLResponse(path.read_text(encoding="utf-8", errors="replace"))


@router.get("/report/run/{name:path}", response_class=HTMLResponse)
def run_report(request: Request, name: str):
    """A run's report.html, for the sandboxed frame of the run page (served from run folders only)."""
    try:
        return _report(run_path(request, name) / "report.html")
    except TuneForgeError as exc:
        return problem_page(request, 404, str(exc))


@router.get("/report/search/{name:path}", response_class=HTMLResponse)
def search_report(request: Request, name: str):
    """A method comparison's comparison.html, for the sandboxed frame of its page."""
    try:
        folder = inside(name, [ui_of(request).runs_dir])
    except TuneForgeError as exc:
        return problem_page(request, 404, str(exc))
    return _report(folder / "comparison.html")


def _flat(mapping: Any, prefix: str = "") -> dict[str, str]:
    if not isinstance(mapping, dict):
        return {prefix.rstrip("."): str(mapping)} if prefix else {}
    flat: dict[str, str] = {}
    for key, value in mapping.items():
        flat.update(_flat(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}": str(value)})
    return flat


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request, run: list[str] = Query(default=[])):
    """Runs side by side: their metrics in one table, the config settings where they differ, and their
    learning curves overlaid."""
    ui = ui_of(request)
    names = list(dict.fromkeys(r for r in run if r))[:MAX_COMPARED]
    if len(names) < 2:
        return render(request, "compare.html", status=422, title="Compare runs", runs=[], rows=[], differences=[],
                      charts=[], message="tick two or more runs in the runs table to compare them")
    runs, metrics, configs, series = [], {}, {}, {}
    for name in names:
        try:
            folder = run_path(request, name)
        except TuneForgeError as exc:
            return problem_page(request, 404, str(exc))
        info = run_info(ui.runs_dir, folder, ui.jobs.running_folders())
        runs.append(info)
        metrics[name] = flat_metrics(run_metrics(folder))
        configs[name] = _flat({k: v for k, v in read_config(folder).items() if k != "output"})
        series[name] = curves(folder)
    keys = list(dict.fromkeys(k for values in metrics.values() for k in values if k != "n"))
    rows = [(key, [metrics[n].get(key) for n in names]) for key in keys]
    setting_keys = sorted({k for values in configs.values() for k in values})
    differences = [(key, [configs[n].get(key, "") for n in names]) for key in setting_keys
                   if len({configs[n].get(key, "") for n in names}) > 1]
    return render(request, "compare.html", title="Compare runs", runs=runs, rows=rows, differences=differences,
                  charts=[c for c in overlaid(series) if c])


@router.get("/searches/{name:path}", response_class=HTMLResponse)
def search_page(request: Request, name: str):
    """A method comparison (its rows and comparison.html) or a search (its trials so far)."""
    ui = ui_of(request)
    try:
        folder = inside(name, [ui.runs_dir])
    except TuneForgeError as exc:
        return problem_page(request, 404, str(exc))
    if not folder.is_dir():
        return problem_page(request, 404, f"no comparison or search called {name}")
    info = search_info(ui.runs_dir, folder)
    columns = list(dict.fromkeys(k for row in info.rows for k in row if not isinstance(row.get(k), (dict, list))))
    return render(request, "search.html", title=info.name, search=info, columns=columns[:14],
                  has_report=(folder / "comparison.html").is_file())
