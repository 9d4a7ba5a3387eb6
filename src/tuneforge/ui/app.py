"""The web interface (FastAPI + Jinja2 templates, a little vanilla JavaScript, everything served locally):
runs, new runs with live progress, method comparisons and searches, trying a model, data checks.

``create_app`` builds the app; every request first passes the guard (Host name, Origin of state-changing
requests, a session or key when keys are configured), and every page is escaped (Jinja2 autoescape) and
sent with a Content-Security-Policy that allows only this server's own scripts and styles.

Example:
    >>> app = create_app(Path("runs"), api_keys=[], host="127.0.0.1")
    >>> uvicorn.run(app, host="127.0.0.1", port=8765)
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

from fastapi import (  # module level: FastAPI resolves the handlers' annotations here
    FastAPI,
    Request,
)
from fastapi.responses import JSONResponse, RedirectResponse, Response

from .auth import COOKIE, SESSION_SECONDS, Guard, check_startup
from .jobs import JobManager
from .web import HERE, UiState, problem_page, render, secure, templates

log = logging.getLogger("tuneforge")
OPEN_PATHS = ("/login", "/static/", "/favicon.ico")
UPLOAD_PATHS = ("/upload", "/try/image")  # these check their own (larger) limit while reading
MAX_FORM_BYTES = 2 * 2**20


def create_app(runs_dir: str | Path = "runs", api_keys: list[str] | None = None, host: str = "127.0.0.1",
               allowed_hosts: list[str] | None = None, max_upload_mb: float = 50.0, cwd: str | Path | None = None,
               max_jobs: int = 4) -> FastAPI:
    """The web interface over ``runs_dir``. Off loopback, ``api_keys`` are required (ConfigError otherwise);
    with keys, every page needs a signed-in session (or ``Authorization: Bearer <key>``)."""
    from fastapi.staticfiles import StaticFiles

    from . import pages_new, pages_runs, pages_try

    keys = list(api_keys or [])
    check_startup(host, keys)
    runs = Path(runs_dir).absolute()
    runs.mkdir(parents=True, exist_ok=True)
    work = Path(cwd).absolute() if cwd else Path.cwd()
    state = UiState(runs_dir=runs, cwd=work, guard=Guard(host, keys, list(allowed_hosts or [])),
                    jobs=JobManager(runs, work, max_jobs), max_upload_bytes=int(max_upload_mb * 2**20))
    state.templates = templates()
    app = FastAPI(title="TuneForge", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ui = state
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def guard(request: Request, call_next):
        headers = {k.lower(): v for k, v in request.headers.items()}
        refused = state.guard.request_problem(request.method, headers, request.url.path)
        if refused:
            return secure(Response(refused[1] + "\n", status_code=refused[0], media_type="text/plain"))
        path = request.url.path
        if request.method == "POST" and not path.endswith(UPLOAD_PATHS):
            if "content-length" not in headers:  # a chunked body would be read whole before any limit applied
                return secure(problem_page(request, 411, "send the form with a Content-Length"))
            if _declared(headers) > MAX_FORM_BYTES:
                return secure(problem_page(request, 413, "the form is too large"))
        if not path.startswith(OPEN_PATHS) and not state.guard.signed_in(request.cookies.get(COOKIE),
                                                                          headers.get("authorization")):
            if request.method == "GET" and not path.startswith("/api/"):
                target = path + (f"?{request.url.query}" if request.url.query else "")
                return secure(RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303))
            return secure(JSONResponse({"error": "sign in first (or send Authorization: Bearer <key>)"},
                                        status_code=401))
        try:
            response = await call_next(request)
        except Exception:  # noqa: BLE001 - the page says what happened; the log keeps the traceback
            log.exception("ui: %s %s failed", request.method, path)
            response = problem_page(request, 500, "something went wrong on the server; its log has the details")
        return secure(response, report=path.startswith("/report/"))

    @app.exception_handler(404)
    async def not_found(request: Request, exc):
        return problem_page(request, 404, getattr(exc, "detail", None) or "not found")

    @app.exception_handler(405)
    async def not_allowed(request: Request, exc):
        return problem_page(request, 405, "method not allowed")

    @app.get("/login")
    def login_page(request: Request, next: str = "/"):
        """The sign-in form (only when keys are configured)."""
        if not state.guard.needs_login:
            return RedirectResponse("/", status_code=303)
        return render(request, "login.html", title="Sign in", next=_local(next))

    @app.post("/login")
    async def login(request: Request):
        """Trade an API key for a session cookie (HttpOnly, SameSite=Strict)."""
        form = await request.form(max_files=0, max_fields=4, max_part_size=4096)
        key, target = str(form.get("key", "")), _local(str(form.get("next", "/")))
        if not state.guard.needs_login:
            return RedirectResponse(target, status_code=303)
        client = request.client.host if request.client else "?"
        if state.guard.locked_out(client):
            return render(request, "login.html", status=429, title="Sign in", next=target,
                          message="too many wrong keys from this address; wait a few minutes")
        if not state.guard.key_ok(key.strip()):
            state.guard.failed_login(client)
            log.warning("ui: a wrong key from %s", client)
            return render(request, "login.html", status=401, title="Sign in", next=target,
                          message="that key is not valid")
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, state.guard.new_session(), max_age=SESSION_SECONDS, httponly=True,
                            samesite="strict", secure=request.url.scheme == "https", path="/")
        return response

    @app.post("/logout")
    def logout(request: Request):
        """End the session."""
        state.guard.end_session(request.cookies.get(COOKIE))
        response = RedirectResponse("/login" if state.guard.needs_login else "/", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/favicon.ico")
    def favicon():
        return Response(status_code=204)

    for module in (pages_runs, pages_new, pages_try):
        app.include_router(module.router)

    return app


def _declared(headers: dict[str, str]) -> int:
    try:
        return int(headers.get("content-length", "0") or 0)
    except ValueError:
        return 0


def _local(target: str) -> str:
    """A redirect target on this server only (``/path``; never ``//host`` or ``https://...``)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"
