"""``tuneforge serve``: the HTTP service for a bundle (or a registry version)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .cli_support import BACKEND_HELP, PRECISION_HELP, _console, _fail, _setup_logging
from .errors import TuneForgeError


def serve(
    bundle: str = typer.Argument(..., help="bundle folder written by train, or registry://NAME@STAGE|VERSION"),
    registry: Optional[Path] = typer.Option(None, "--registry", help="model registry folder (registry:// bundles, "
                                            "reload by registry://; default $TUNEFORGE_REGISTRY or ./registry)"),
    mlflow: Optional[str] = typer.Option(None, "--mlflow", help="resolve registry:// in MLflow's model registry at "
                                         "this tracking URI"),
    backend: str = typer.Option("torch", "--backend", help=BACKEND_HELP),
    precision: str = typer.Option("auto", "--precision", help=PRECISION_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="off loopback, --api-key-file is required"),
    port: int = typer.Option(8000, "--port"),
    api_key_file: Optional[Path] = typer.Option(None, "--api-key-file", help="API keys, one per line"),
    admin_key_file: Optional[Path] = typer.Option(None, "--admin-key-file",
                                                  help="keys for /v1/admin/* (with --api-key-file, admin routes are off without it)"),
    bundle_root: Optional[Path] = typer.Option(None, "--bundle-root",
                                               help="/v1/admin/reload loads bundles below this folder only (off without it)"),
    cors_origin: Optional[list[str]] = typer.Option(None, "--cors-origin",
                                                    help="a web origin allowed to call the API, e.g. https://app.example (repeatable)"),
    allowed_host: Optional[list[str]] = typer.Option(None, "--allowed-host",
                                                     help="a Host name the server answers for besides its address (repeatable)"),
    workers: int = typer.Option(1, "--workers", help="server processes (each loads the model)"),
    max_batch_size: int = typer.Option(32, "--max-batch-size", help="texts per forward pass"),
    max_wait_ms: float = typer.Option(5.0, "--max-wait-ms", help="longest wait to fill a batch"),
    max_queue: int = typer.Option(256, "--max-queue", help="texts waiting before requests get 429"),
    max_texts: int = typer.Option(64, "--max-texts", help="texts per request (more: 422)"),
    max_text_chars: int = typer.Option(5000, "--max-text-chars", help="characters per text (more: 422)"),
    max_body_bytes: int = typer.Option(1_000_000, "--max-body-bytes", help="request body size (more: 413)"),
    timeout: float = typer.Option(10.0, "--timeout", help="seconds before a request gets 504"),
    drain_timeout: float = typer.Option(20.0, "--drain-timeout", help="seconds SIGTERM waits for requests in flight"),
    log_texts: bool = typer.Option(False, "--log-texts", help="include request texts in the access log"),
    max_new_tokens: int = typer.Option(256, "--max-new-tokens", help="generation: most tokens per answer (max_tokens above it: 422)"),
    max_prompt_tokens: Optional[int] = typer.Option(None, "--max-prompt-tokens", help="generation: longest prompt (more: 413)"),
    generation_batch: int = typer.Option(16, "--generation-batch", help="generation: requests decoded together"),
    generation_timeout: float = typer.Option(120.0, "--generation-timeout", help="generation: seconds before 504"),
    max_explain_texts: int = typer.Option(4, "--max-explain-texts", help="/v1/explain: texts per request"),
    max_explain_steps: int = typer.Option(100, "--max-explain-steps", help="/v1/explain: integration steps"),
    capture: Optional[Path] = typer.Option(None, "--capture", help="capture served inputs and outputs (personal "
                                           "data masked) into DIR/capture.sqlite3"),
    capture_rate: float = typer.Option(1.0, "--capture-rate", min=0.0, max=1.0, help="share of predictions captured"),
    capture_max_rows: int = typer.Option(1_000_000, "--capture-max-rows", min=1, help="captured rows kept (newest)"),
    capture_max_days: float = typer.Option(30.0, "--capture-max-days", min=0.0, help="days captured rows are kept"),
    canary: Optional[str] = typer.Option(None, "--canary", help="a candidate bundle (or registry://NAME@VERSION) "
                                         "that answers --canary-share of /v1/predict; metrics per model"),
    canary_share: float = typer.Option(0.1, "--canary-share", min=0.0, max=1.0, help="share of requests the "
                                       "canary answers"),
    drift_window: int = typer.Option(500, "--drift-window", min=10, help="recent predictions the drift gauges cover"),
) -> None:
    """Serve a bundle over HTTP: POST /v1/predict (or, for a generation bundle, the OpenAI-compatible
    /v1/chat/completions and /v1/completions), /v1/models, /livez, /readyz, /metrics, /docs."""

    from . import api
    from .model_registry import SCHEME, registry_folder
    from .registry_access import bundle_argument
    from .serve.security import read_api_keys

    _setup_logging()
    try:
        registry = str(registry_folder(registry)) if registry or SCHEME in bundle + (canary or "") else None
        bundle = bundle_argument(bundle, registry, mlflow)
        canary = bundle_argument(canary, registry, mlflow) if canary else None
        keys = read_api_keys(api_key_file) if api_key_file else []
        admin_keys = read_api_keys(admin_key_file) if admin_key_file else []
        options = dict(
            backend=backend, precision=precision, host=host, port=port, api_keys=keys, admin_keys=admin_keys,
            bundle_root=str(bundle_root) if bundle_root else None, registry=registry, mlflow=mlflow, cors_origins=list(cors_origin or []),
            allowed_hosts=list(allowed_host or []), max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms, max_queue=max_queue, max_texts=max_texts, max_text_chars=max_text_chars,
            max_body_bytes=max_body_bytes, request_timeout_s=timeout, drain_timeout_s=drain_timeout, log_texts=log_texts,
            max_new_tokens=max_new_tokens, max_prompt_tokens=max_prompt_tokens, generation_batch=generation_batch,
            generation_timeout_s=generation_timeout, max_explain_texts=max_explain_texts,
            max_explain_steps=max_explain_steps, capture=str(capture) if capture else None,
            capture_rate=capture_rate, capture_max_rows=capture_max_rows, capture_max_days=capture_max_days,
            drift_window=drift_window, canary=canary, canary_share=canary_share,
        )
        api.serve(bundle, workers=workers,
                  on_ready=lambda: _console(stderr=True).print(f"serving {bundle} on http://{host}:{port} (docs: /docs)"),
                  **options)
    except TuneForgeError as exc:
        _fail(exc)
