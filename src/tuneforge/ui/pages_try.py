"""Pages that use what runs made: try a bundle (text, text pair, image upload or chat, as its task declares;
scores, entity highlights, word attributions) and run the data check on a file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from ..errors import TuneForgeError
from ..tasks import TASKS
from .newrun import start_check
from .paths import data_files, inside, shown, stays_in
from .runs_index import scan_runs
from .trymodel import MAX_IMAGE_BYTES, chat_turn, kind_of, predict_image, predict_text
from .uploads import (
    DATA_UPLOADS,
    UploadRefused,
    check_data_upload,
    forget,
    receive_upload,
    uploads,
)
from .web import problem_page, render, ui_of

router = APIRouter()

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
MAX_HISTORY_CHARS = 100_000


def _bundle(request: Request, run: str, path: str) -> tuple[Path | None, str]:
    """The bundle chosen by run name (relative to the runs folder) or by path (inside the allowed folders)."""
    ui = ui_of(request)
    if path.strip():
        folder = inside(path, ui.roots)
        return folder, shown(folder, ui.roots)
    if run.strip():
        folder = inside(run, [ui.runs_dir]) / "bundle"
        if not stays_in(folder / "tuneforge.json", ui.runs_dir):  # a bundle symlinked from elsewhere: refused
            raise TuneForgeError(f"run {run} has no bundle")
        return folder, run
    return None, ""


def _try_page(request: Request, run: str = "", path: str = "", status: int = 200, message: str = "",
              **extra: Any) -> HTMLResponse:
    ui = ui_of(request)
    bundles = [r.name for r in scan_runs(ui.runs_dir) if r.has_bundle]
    context: dict[str, Any] = {"bundles": bundles, "run": run, "path": path, "kind": "", "result": None,
                               "chat": [], "text": "", "pair": "", "explain": False, "manifest": None,
                               "max_image_mb": MAX_IMAGE_BYTES / 2**20}
    try:
        folder, _ = _bundle(request, run, path)
        if folder is not None:
            predictor = ui.predictors.get(folder)
            context["kind"] = kind_of(predictor)
            context["manifest"] = {"task": predictor.manifest.task.type, "method": predictor.manifest.method.name,
                                   "labels": list(predictor.label_names)[:50]}
    except TuneForgeError as exc:
        message, status = message or str(exc), 422 if status == 200 else status
    context.update(extra)
    return render(request, "try.html", status=status, message=message, title="Try a model", **context)


@router.get("/try", response_class=HTMLResponse)
def try_page(request: Request, run: str = "", path: str = ""):
    """Pick a bundle; the form fits it: a text box, two for pairs, an image upload, or a chat."""
    return _try_page(request, run, path)


@router.post("/try", response_class=HTMLResponse)
async def try_text(request: Request):
    """Predict the text (or pair) typed in the form; with ``explain``, word attributions too."""
    ui = ui_of(request)
    form = await request.form(max_files=0, max_fields=10, max_part_size=50_000)
    run, path = str(form.get("run", "")), str(form.get("path", ""))
    text, pair, explain = str(form.get("text", "")), str(form.get("pair", "")), bool(form.get("explain"))
    try:
        folder, _ = _bundle(request, run, path)
        if folder is None:
            raise TuneForgeError("pick a bundle")
        result = await run_in_threadpool(lambda: predict_text(ui.predictors.get(folder), text, pair or None, explain))
    except TuneForgeError as exc:
        return _try_page(request, run, path, 422, str(exc), text=text, pair=pair, explain=explain)
    return _try_page(request, run, path, result=result, text=text, pair=pair, explain=explain)


@router.post("/try/image", response_class=HTMLResponse)
async def try_image(request: Request, run: str = "", path: str = ""):
    """Predict an uploaded image (image bundles); a refused upload gets its message in the page."""
    ui = ui_of(request)
    try:
        stored = await receive_upload(request, ui.uploads_dir / "images", MAX_IMAGE_BYTES, "image", IMAGE_SUFFIXES)
    except UploadRefused as exc:
        return _try_page(request, run, path, exc.status, str(exc))
    try:
        data = stored.path.read_bytes()
    finally:
        forget(stored.path)
    try:
        folder, _ = _bundle(request, run, path)
        if folder is None:
            raise TuneForgeError("pick a bundle")
        result = await run_in_threadpool(lambda: predict_image(ui.predictors.get(folder), data, stored.client_name))
    except TuneForgeError as exc:
        return _try_page(request, run, path, 422, str(exc))
    return _try_page(request, run, path, result=result)


@router.post("/try/chat", response_class=HTMLResponse)
async def try_chat(request: Request):
    """One chat turn with a generation bundle; the conversation so far comes back in the form."""
    ui = ui_of(request)
    form = await request.form(max_files=0, max_fields=10, max_part_size=MAX_HISTORY_CHARS)
    run, path, message = str(form.get("run", "")), str(form.get("path", "")), str(form.get("text", ""))
    try:
        history = json.loads(str(form.get("history", "") or "[]"))
        history = history if isinstance(history, list) else []
    except ValueError:
        history = []
    try:
        folder, _ = _bundle(request, run, path)
        if folder is None:
            raise TuneForgeError("pick a bundle")
        conversation = await run_in_threadpool(lambda: chat_turn(ui.predictors.get(folder), history, message))
    except TuneForgeError as exc:
        return _try_page(request, run, path, 422, str(exc), chat=history, history=json.dumps(history), text=message)
    return _try_page(request, run, path, chat=conversation, history=json.dumps(conversation))


def _check_page(request: Request, data: str = "", status: int = 200, message: str = "") -> HTMLResponse:
    ui = ui_of(request)
    return render(request, "check.html", status=status, message=message, title="Data check", data=data,
                  tasks=TASKS.names(), suggestions=data_files(ui.cwd, [ui.runs_dir]),
                  uploads=[(shown(p, ui.roots), c) for p, c in uploads(ui.uploads_dir)][:30],
                  max_upload_mb=ui.max_upload_bytes / 2**20)


@router.get("/check", response_class=HTMLResponse)
def check_page(request: Request, data: str = ""):
    """The data check form: a data file (path or upload), the task when the guess would be wrong."""
    return _check_page(request, data)


@router.post("/check/upload", response_class=HTMLResponse)
async def check_upload(request: Request):
    """Receive a data file for the data check (the same limits and checks as the new-run upload)."""
    ui = ui_of(request)
    try:
        stored = await receive_upload(request, ui.uploads_dir, ui.max_upload_bytes, "file", DATA_UPLOADS)
        await run_in_threadpool(check_data_upload, stored)
    except UploadRefused as exc:
        return _check_page(request, "", exc.status, str(exc))
    return RedirectResponse(f"/check?{urlencode({'data': shown(stored.path, ui.roots)})}", status_code=303)


@router.post("/check", response_class=HTMLResponse)
async def check_start(request: Request):
    """Start ``tuneforge data check`` on the file and follow it on its job page."""
    ui = ui_of(request)
    form = await request.form(max_files=0, max_fields=10, max_part_size=10_000)
    data, task = str(form.get("data", "")), str(form.get("task", ""))
    try:
        path = inside(data, ui.roots)
        if not path.is_file():
            raise TuneForgeError(f"{data}: not a file")
        job = start_check(ui.jobs, path, task, near=bool(form.get("near")), label_errors=bool(form.get("label_errors")))
    except TuneForgeError as exc:
        return _check_page(request, data, 422, str(exc))
    return RedirectResponse(f"/jobs/{job.id}", status_code=303)


@router.get("/report/check/{job_id}", response_class=HTMLResponse)
def check_report(request: Request, job_id: str):
    """A data check's data_report.html, for the sandboxed frame of its job page."""
    job = ui_of(request).jobs.get(job_id)
    if job is None or job.kind != "check" or not (Path(job.out_dir) / "data_report.html").is_file():
        return problem_page(request, 404, "no data check report here")
    return HTMLResponse((Path(job.out_dir) / "data_report.html").read_text(encoding="utf-8", errors="replace"))
