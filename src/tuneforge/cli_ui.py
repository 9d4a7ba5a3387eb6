"""``tuneforge ui``: the web interface over a runs folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .cli_support import _console, _fail, _setup_logging
from .errors import TuneForgeError


def ui(
    runs: Path = typer.Option(Path("runs"), "--runs", help="the runs folder to show and to start runs in"),
    host: str = typer.Option("127.0.0.1", "--host", help="off loopback, --api-key-file is required"),
    port: int = typer.Option(8765, "--port"),
    api_key_file: Optional[Path] = typer.Option(None, "--api-key-file", help="API keys, one per line (the same "
                                                "file as tuneforge serve takes); with keys, the UI asks for one"),
    allowed_host: Optional[list[str]] = typer.Option(None, "--allowed-host",
                                                     help="a Host name the UI answers for besides its address (repeatable)"),
    max_upload_mb: float = typer.Option(50.0, "--max-upload-mb", min=0.001, help="largest data file an upload may be"),
    max_jobs: int = typer.Option(4, "--max-jobs", min=1, help="runs, comparisons and searches running at once"),
) -> None:
    """A web interface: browse runs, start and watch training, compare methods, try a model, check data."""
    from .serve.security import read_api_keys

    _setup_logging()
    try:
        import jinja2  # noqa: F401
        import uvicorn

        from .ui.app import create_app
    except ImportError:
        _fail(TuneForgeError("the web interface needs fastapi, uvicorn and jinja2: pip install 'tuneforge[serve]'"))
    try:
        keys = read_api_keys(api_key_file) if api_key_file else []
        app = create_app(runs, keys, host, list(allowed_host or []), max_upload_mb, max_jobs=max_jobs)
    except TuneForgeError as exc:
        _fail(exc)
    shown = f"[{host}]" if ":" in host else host
    _console(stderr=True).print(f"TuneForge UI on http://{shown}:{port} (runs: {runs})", highlight=False)
    uvicorn.run(app, host=host, port=port, log_level="warning")
