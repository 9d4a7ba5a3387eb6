"""Pages that start things: the new-run form (data upload or path, preview, task/method/model and their
registry-driven options, the YAML that will run), method comparisons and searches with a budget, and the
job pages that follow a process live (progress, log, trials) and cancel it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from ..errors import TuneForgeError
from ..methods import METHODS
from ..tasks import TASKS
from ..tuning.advisor import default_methods
from .forms import option_forms
from .jobs import Job, TooManyJobs
from .newrun import preview, start_run, yaml_for
from .paths import data_files, inside, shown, stays_in
from .progress import parse_console, readable_log
from .runs_index import is_run, log_tail, search_info
from .uploads import (
    DATA_UPLOADS,
    UploadRefused,
    check_data_upload,
    receive_upload,
    uploads,
)
from .web import problem_page, render, ui_of

router = APIRouter()

KINDS = {"train": "Train one model", "compare": "Compare methods", "tune": "Search hyperparameters (tune)"}
MAX_FORM_FIELDS = 200


def _form_context(request: Request, data: str = "", kind: str = "train") -> dict[str, Any]:
    ui = ui_of(request)
    return {"data": data, "kind": kind if kind in KINDS else "train", "kinds": KINDS,
            "suggestions": data_files(ui.cwd, [ui.runs_dir]),
            "uploads": [(shown(path, ui.roots), client) for path, client in uploads(ui.uploads_dir)][:30],
            "method_forms": option_forms(METHODS), "task_forms": option_forms(TASKS),
            "compare_default": default_methods(), "max_upload_mb": ui.max_upload_bytes / 2**20,
            "preview": None, "yaml": "", "name": "", "title": "New run"}


def _new_page(request: Request, data: str, kind: str, status: int = 200, message: str = "",
              **extra: Any) -> HTMLResponse:
    ui = ui_of(request)
    context = _form_context(request, data, kind)
    if data.strip():
        try:
            path = inside(data, ui.roots)
        except TuneForgeError as exc:
            message, status = message or str(exc), 422 if status == 200 else status
        else:
            context["preview"] = preview(path, ui.runs_dir)
            context["yaml"] = context["preview"].yaml
            context["name"] = context["preview"].name
            if context["preview"].problem and status == 200:
                message, status = context["preview"].problem, 422
    context.update(extra)
    return render(request, "new.html", status=status, message=message, **context)


@router.get("/new", response_class=HTMLResponse)
def new_page(request: Request, data: str = "", kind: str = "train"):
    """The new-run form; with ``data``, the file's preview (first rows, columns, labels, task) and the YAML."""
    return _new_page(request, data, kind)


@router.post("/new/upload", response_class=HTMLResponse)
async def upload(request: Request, kind: str = "train"):
    """Receive a data file (size-limited, stored under a generated name, checked as data), then show the
    form with its preview; a refused upload gets its message in the page (400/413/415/422), never a 500."""
    ui = ui_of(request)
    try:
        stored = await receive_upload(request, ui.uploads_dir, ui.max_upload_bytes, "file", DATA_UPLOADS)
        await run_in_threadpool(check_data_upload, stored)  # reading a file: off the event loop
    except UploadRefused as exc:
        return _new_page(request, "", kind, status=exc.status, message=str(exc))
    target = urlencode({"data": shown(stored.path, ui.roots), "kind": kind})
    return RedirectResponse(f"/new?{target}", status_code=303)


@router.post("/api/yaml")
async def yaml_api(request: Request):
    """The YAML for the form's choices (JSON in: data, name, task, method, model, task_options,
    method_options); ``{"yaml": ...}`` or ``{"error": ...}`` with 422."""
    ui = ui_of(request)
    try:
        body = json.loads((await request.body())[:200_000] or b"{}")
        if not isinstance(body, dict):
            raise ValueError("not an object")
    except ValueError:
        return JSONResponse({"error": "send a JSON object"}, status_code=422)
    text = lambda key: str(body.get(key) or "")  # noqa: E731
    options = lambda key: body.get(key) if isinstance(body.get(key), dict) else {}  # noqa: E731
    try:
        path = inside(text("data"), ui.roots)
        return {"yaml": await run_in_threadpool(yaml_for, path, ui.runs_dir, text("name"), text("task"),
                                                text("method"), text("model"), options("task_options"),
                                                options("method_options"))}
    except TuneForgeError as exc:
        return JSONResponse({"error": str(exc)}, status_code=422)


@router.post("/new/start", response_class=HTMLResponse)
async def start(request: Request):
    """Start the YAML as a ``tuneforge train`` (``compare``, ``tune``) process and go to its job page;
    a config that does not validate comes back with its message, the YAML kept as typed."""
    ui = ui_of(request)
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=200_000)
    kind, data = str(form.get("kind", "train")), str(form.get("data", ""))
    text, name = str(form.get("yaml", "")), str(form.get("name", "") or "run")
    settings = {"methods": [str(m) for m in form.getlist("methods")], "budget": form.get("budget", "600"),
                "trials": form.get("trials", "8"), "timeout": form.get("timeout", "")}
    try:
        job = await run_in_threadpool(start_run, ui.jobs, kind if kind in KINDS else "", text, name, ui.roots, settings)
    except TuneForgeError as exc:
        status = 429 if isinstance(exc, TooManyJobs) else 422
        return _new_page(request, data, kind, status=status, message=str(exc), yaml=text, name=name)
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


def _links(request: Request, job: Job) -> dict[str, str]:
    ui = ui_of(request)
    out = Path(job.out_dir)
    links: dict[str, str] = {}
    if not out.is_relative_to(ui.runs_dir) or job.kind == "check":
        if job.kind == "check" and (out / "data_report.html").is_file():
            links["report"] = f"/report/check/{job.id}"
        return links
    name = str(out.relative_to(ui.runs_dir))
    if job.kind == "train" and is_run(out):
        links["run"] = f"/runs/{name}"
        if (out / "bundle" / "tuneforge.json").is_file():
            links["try"] = f"/try?{urlencode({'run': name})}"
    elif out.is_dir():
        links["search"] = f"/searches/{name}"
    return links


def job_status(request: Request, job: Job) -> dict[str, Any]:
    """What the job page shows, as JSON: state, progress (steps, ETA, loss), evaluations, trials or
    compared methods so far, the error of a failed run, the log, and links to what it made."""
    ui = ui_of(request)
    console = log_tail(job.console, lines=2000)
    facts = parse_console(console)
    out = Path(job.out_dir)
    rows: list[dict[str, Any]] = []
    if job.kind in ("compare", "tune") and out.is_dir():
        rows = search_info(ui.runs_dir, out, job.kind).rows if out.is_relative_to(ui.runs_dir) else []
    failed = None
    if job.state == "failed" and stays_in(out / "FAILED"):
        failed = (out / "FAILED").read_text(encoding="utf-8", errors="replace").strip()[:2000]
    keep = ("method", "score", "train_seconds", "bundle_mb", "error", "trial", "number", "state", "status",
            "value", "metric")
    return {
        "id": job.id, "kind": job.kind, "name": job.name, "state": job.state, "returncode": job.returncode,
        "started": job.started, "ended": job.ended, **{k: facts[k] for k in (
            "step", "total", "percent", "eta", "elapsed", "loss", "bar", "evaluation", "trials", "compare")},
        "error": (facts["error"] or failed) if job.state in ("failed", "lost") else None,
        "rows": [{k: v for k, v in row.items() if k in keep} for row in rows][:200],
        "log": readable_log(console), "links": _links(request, job),
        "out_dir": shown(out, ui.roots),
    }


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request):
    """Every job the UI started: kind, name, state, when."""
    return render(request, "jobs.html", title="Jobs", jobs=ui_of(request).jobs.listing())


@router.get("/jobs/{job_id}", response_class=HTMLResponse)
def job_page(request: Request, job_id: str):
    """One job, followed live (the page polls ``/api/jobs/ID``)."""
    job = ui_of(request).jobs.get(job_id)
    if job is None:
        return problem_page(request, 404, f"no job {job_id}")
    return render(request, "job.html", title=f"{job.kind} {job.name}", job=job, info=job_status(request, job))


@router.get("/api/jobs/{job_id}")
def job_api(request: Request, job_id: str):
    """The job's status as JSON (see ``job_status``)."""
    job = ui_of(request).jobs.get(job_id)
    if job is None:
        return JSONResponse({"error": f"no job {job_id}"}, status_code=404)
    return job_status(request, job)


@router.post("/jobs/{job_id}/cancel")
def cancel(request: Request, job_id: str):
    """Stop the job's process (SIGINT, then SIGKILL) and mark its run folder CANCELLED."""
    ui = ui_of(request)
    try:
        ui.jobs.cancel(job_id)
    except TuneForgeError as exc:
        return problem_page(request, 409 if ui.jobs.get(job_id) else 404, str(exc))
    if "application/json" in request.headers.get("accept", ""):
        return job_status(request, ui.jobs.get(job_id))
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
