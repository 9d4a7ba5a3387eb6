"""What every page of the web interface shares: the UI's state, the templates (autoescaped), rendering a
page or a problem, and the security headers every response carries."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from .auth import Guard
from .jobs import JobManager
from .trymodel import PredictorCache

HERE = Path(__file__).parent
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
# reports (report.html, comparison.html, data_report.html) are self-contained pages: their own inline styles
# and data: images, no scripts, shown only inside this UI's sandboxed iframes
REPORT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'self'"


@dataclass
class UiState:
    """What every page reads: the runs folder, the folders paths may point into, jobs, keys, limits."""

    runs_dir: Path
    cwd: Path
    guard: Guard
    jobs: JobManager
    max_upload_bytes: int
    predictors: PredictorCache = field(default_factory=PredictorCache)
    templates: object = None

    @property
    def roots(self) -> list[Path]:
        """Where user-given paths may point: the folder the server started in, then the runs folder."""
        return [self.cwd, self.runs_dir]

    @property
    def uploads_dir(self) -> Path:
        """Where uploaded data files are kept."""
        return self.runs_dir / ".ui" / "uploads"


def ui_of(request: Request) -> UiState:
    """The UI's state from a request."""
    return request.app.state.ui


def templates():
    """Jinja2 templates with autoescape on for every file (nothing a user wrote reaches a page unescaped)."""
    import jinja2
    from fastapi.templating import Jinja2Templates

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(HERE / "templates")), autoescape=True)
    env.filters["urlpath"] = lambda value: quote(str(value), safe="/")
    env.filters["number"] = lambda value: "" if value is None else (f"{value:.4f}" if isinstance(value, float)
                                                                     else str(value))
    return Jinja2Templates(env=env)


def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
    """A page from ``templates/NAME`` (which extends base.html), with the navigation's context."""
    ui: UiState = request.app.state.ui
    context.setdefault("message", "")
    context.setdefault("title", "TuneForge")
    return ui.templates.TemplateResponse(request, template, {"signed_in": ui.guard.needs_login, **context},
                                         status_code=status)


def problem_page(request: Request, status: int, message: str) -> Response:
    """An error as a page (or JSON for ``/api/`` routes): the message, never a traceback."""
    if request.url.path.startswith("/api/") or "application/json" in request.headers.get("accept", ""):
        return JSONResponse({"error": message}, status_code=status)
    return render(request, "problem.html", status=status, title="Problem", message=message)


def secure(response: Response, report: bool = False) -> Response:
    """Add the security headers: the pages' Content-Security-Policy (or the stricter one of an embedded
    report), no sniffing, no referrer to other sites, no framing by other sites, no caching."""
    response.headers.setdefault("Content-Security-Policy", REPORT_POLICY if report else PAGE_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")  # no-referrer would make Chrome send "Origin: null"
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN" if report else "DENY")
    response.headers.setdefault("Cache-Control", "no-store")
    return response


