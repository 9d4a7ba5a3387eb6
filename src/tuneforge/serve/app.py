"""The HTTP service for a bundle (FastAPI): predictions through the micro-batcher, behind limits and keys.

Routes: ``POST /v1/predict``, ``GET /v1/models``, ``GET /livez``, ``GET /readyz``, ``GET /metrics``,
``POST /v1/admin/reload``, OpenAPI at ``/docs``. Every route but ``/livez`` and ``/readyz`` needs
``Authorization: Bearer <key>`` when keys are configured. Bad input gets a 4xx with a message,
never a 5xx. One JSON log line per request (id, route, status, latency, batch size; the texts only
with ``log_texts``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from fastapi import FastAPI, Request  # module level: FastAPI resolves the handlers' annotations here

from .batching import MicroBatcher, QueueFull
from .security import authorized

access_log = logging.getLogger("tuneforge.serve.access")
SETTINGS_ENV = "TUNEFORGE_SERVE_SETTINGS"


@dataclass
class ServeSettings:
    """What the service needs; the CLI fills it from its options."""

    bundle: str
    backend: str = "torch"
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: list[str] = field(default_factory=list)
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_queue: int = 256
    max_texts: int = 64
    max_text_chars: int = 5000
    max_body_bytes: int = 1_000_000
    request_timeout_s: float = 10.0
    drain_timeout_s: float = 20.0
    log_texts: bool = False
    inference_delay_ms: float = 0.0  # tests only: make every forward pass this much slower
    fail_after: int | None = None  # tests only: the engine breaks after this many forward passes


class Engine:
    """The loaded bundle, its batcher, and whether a warm-up inference succeeded."""

    def __init__(self, settings: ServeSettings, metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.predictor = None
        self.batcher: MicroBatcher | None = None
        self.ready = False
        self.failed: str | None = None
        self.lock = asyncio.Lock()
        self.in_flight = 0  # predict requests inside the handler

    def _load(self, path: str):
        from ..predictor import Predictor

        # ONNX Runtime's spinning threads would take the CPU the event loop needs under load.
        predictor = Predictor.load(path, backend=self.settings.backend, onnx_spinning=False)
        predictor.predict([{"text": "warm-up", "text_pair": "warm-up"} if predictor.manifest.get("data", {}).get(
            "text_pair_column") else {"text": "warm-up"}])
        return predictor

    def _predict(self, examples):
        if self.settings.inference_delay_ms:
            time.sleep(self.settings.inference_delay_ms / 1000)
        if self.settings.fail_after is not None:
            if self.settings.fail_after <= 0:
                raise RuntimeError("inference engine failure (test fault)")
            self.settings.fail_after -= 1
        return self.predictor.predict(examples)

    def _failed(self, exc: BaseException) -> None:
        self.failed = f"{type(exc).__name__}: {exc}"
        self.ready = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.predictor = await loop.run_in_executor(None, self._load, self.settings.bundle)
        self.batcher = MicroBatcher(self._predict, max_batch_size=self.settings.max_batch_size,
                                    max_wait_ms=self.settings.max_wait_ms, max_queue=self.settings.max_queue,
                                    on_batch=self.metrics.batch_size.observe, on_error=self._failed,
                                    in_flight=lambda: self.in_flight)
        await self.batcher.start()
        self.ready = True

    async def reload(self, path: str) -> dict[str, Any]:
        """Load ``path`` and swap it in only once it loaded and answered a warm-up inference."""
        async with self.lock:
            predictor = await asyncio.get_running_loop().run_in_executor(None, self._load, path)
            self.predictor = predictor  # one assignment: requests see the old model or the new one
            self.settings.bundle = path
            self.failed, self.ready = None, True
            return predictor.manifest


def _metrics():
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry()

    class Metrics:
        pass

    m = Metrics()
    m.registry = registry
    m.requests = Counter("tuneforge_requests_total", "HTTP requests", ["route", "status"], registry=registry)
    m.latency = Histogram("tuneforge_request_latency_seconds", "request latency", ["route"], registry=registry,
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
    m.batch_size = Histogram("tuneforge_batch_size", "texts per forward pass", registry=registry,
                             buckets=(1, 2, 4, 8, 16, 32, 64, 128))
    m.queue_depth = Gauge("tuneforge_queue_depth", "texts waiting for a forward pass", registry=registry)
    m.rejected = Counter("tuneforge_rejected_total", "requests refused or dropped", ["reason"], registry=registry)
    return m


class GuardAndLog:
    """Pure ASGI middleware: API keys, body-size limit, metrics and one JSON log line per request.

    (Not Starlette's BaseHTTPMiddleware, which hides client disconnects from the handlers.)
    """

    def __init__(self, app, settings: ServeSettings, metrics, open_routes: set[str]) -> None:
        self.app, self.settings, self.metrics, self.open_routes = app, settings, metrics, open_routes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        route = scope["path"]
        state = scope.setdefault("state", {})
        state["batch_size"] = 0
        sent = {"status": 500}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        if route not in self.open_routes and self.settings.api_keys and not authorized(
                headers.get("authorization"), self.settings.api_keys):
            await _error(401, "missing or wrong API key (Authorization: Bearer <key>)",
                         {"WWW-Authenticate": "Bearer"})(scope, receive, send_with_id)
        elif int(headers.get("content-length") or 0) > self.settings.max_body_bytes:
            self.metrics.rejected.labels("body_too_large").inc()
            await _error(413, f"request body over {self.settings.max_body_bytes} bytes")(scope, receive, send_with_id)
        else:
            await self.app(scope, receive, send_with_id)
        status = state.get("status_override") or sent["status"]
        seconds = time.perf_counter() - started
        self.metrics.requests.labels(route, str(status)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        line = {"id": request_id, "route": route, "method": scope["method"], "status": status,
                "latency_ms": round(1000 * seconds, 2), "batch_size": state.get("batch_size", 0)}
        if self.settings.log_texts and "texts" in state:
            line["texts"] = state["texts"]
        access_log.info(json.dumps(line))


def _error(status: int, message: str, headers: dict[str, str] | None = None):
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _examples(body: Any, settings: ServeSettings, needs_pair: bool) -> list[dict[str, Any]] | str:
    """Validated examples from a request body, or the message of a 422."""
    if not isinstance(body, dict):
        return "the body must be a JSON object with 'text' or 'texts'"
    unknown = sorted(set(body) - {"text", "texts", "text_pair", "text_pairs"})
    if unknown:
        return f"unknown fields {unknown}; use 'text' or 'texts' (and 'text_pair' or 'text_pairs')"
    texts = body.get("texts", [body["text"]] if "text" in body else None)
    pairs = body.get("text_pairs", [body["text_pair"]] if "text_pair" in body else None)
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return "give 'text' (a string) or 'texts' (a non-empty list of strings)"
    if len(texts) > settings.max_texts:
        return f"{len(texts)} texts in one request; the limit is {settings.max_texts}"
    if pairs is not None and (not isinstance(pairs, list) or len(pairs) != len(texts)
                              or not all(isinstance(p, str) for p in pairs)):
        return "'text_pairs' must be a list of strings as long as 'texts'"
    if needs_pair and pairs is None:
        return "this model classifies text pairs: give 'text_pair' or 'text_pairs'"
    for i, text in enumerate(texts + (pairs or [])):
        if not text.strip():
            return f"text {i % len(texts)} is empty"
        if len(text) > settings.max_text_chars:
            return f"text {i % len(texts)} has {len(text)} characters; the limit is {settings.max_text_chars}"
    return [{"text": t, "text_pair": p} for t, p in zip(texts, pairs or [None] * len(texts))]


def create_app(settings: ServeSettings):
    """The FastAPI application serving ``settings.bundle``.

    Example:
        >>> app = create_app(ServeSettings(bundle="runs/demo/bundle"))
        >>> uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    from fastapi.responses import JSONResponse, PlainTextResponse

    metrics = _metrics()
    engine = Engine(settings, metrics)

    @asynccontextmanager
    async def lifespan(app):
        await engine.start()
        yield
        engine.ready = False
        if engine.batcher:
            await engine.batcher.stop()

    app = FastAPI(title="TuneForge", lifespan=lifespan)
    app.state.engine = engine

    app.add_middleware(GuardAndLog, settings=settings, metrics=metrics, open_routes={"/livez", "/readyz"})

    @app.get("/livez")
    async def livez():
        """The process is up."""
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz():
        """Ready once the model is loaded and a warm-up inference succeeded; unready if the engine fails."""
        if engine.ready:
            return {"status": "ready", "bundle": settings.bundle}
        return JSONResponse({"status": "not ready", "reason": engine.failed or "loading"}, status_code=503)

    @app.get("/metrics")
    async def prometheus_metrics():
        """Prometheus text format."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        metrics.queue_depth.set(engine.batcher.depth() if engine.batcher else 0)
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def models():
        """The served bundle's manifest: task, labels, method, versions, metrics."""
        m = engine.predictor.manifest
        return {"bundle": settings.bundle, "backend": settings.backend, "task": m["task"],
                "method": {k: m["method"].get(k) for k in ("name", "merged", "trainable_parameters", "total_parameters")},
                "base_model": m.get("base_model", {}).get("name"), "versions": m.get("versions"),
                "metrics": m.get("metrics"), "created": m.get("created")}

    @app.post("/v1/predict")
    async def predict(request: Request):
        """Predict one text or a list: label and scores, or entities with character spans."""
        engine.in_flight += 1
        try:
            return await _predict(request)
        finally:
            engine.in_flight -= 1

    async def _predict(request: Request):
        raw = await request.body()
        if len(raw) > settings.max_body_bytes:
            metrics.rejected.labels("body_too_large").inc()
            return _error(413, f"request body over {settings.max_body_bytes} bytes")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(422, "the body is not valid JSON")
        needs_pair = bool(engine.predictor.manifest.get("data", {}).get("text_pair_column"))
        examples = _examples(body, settings, needs_pair)
        if isinstance(examples, str):
            metrics.rejected.labels("invalid").inc()
            return _error(422, examples)
        if not engine.ready:
            return _error(503, f"not ready: {engine.failed or 'loading'}", {"Retry-After": "1"})
        request.state.texts = [e["text"] for e in examples]
        try:
            future = engine.batcher.submit(examples, settings.request_timeout_s)
        except QueueFull:
            metrics.rejected.labels("queue_full").inc()
            return _error(429, "the server is at capacity; retry shortly", {"Retry-After": "1"})
        deadline = time.monotonic() + settings.request_timeout_s
        while not future.done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                future.cancel()
                metrics.rejected.labels("deadline").inc()
                return _error(504, f"no answer within {settings.request_timeout_s:g} s")
            await asyncio.wait([future], timeout=min(0.05, remaining))
            if not future.done() and await request.is_disconnected():
                future.cancel()  # the batcher skips it if it has not run yet
                metrics.rejected.labels("client_gone").inc()
                request.state.status_override = 499
                return _error(499, "client closed the request")
        try:
            results, request.state.batch_size = future.result()
        except asyncio.TimeoutError:
            metrics.rejected.labels("deadline").inc()
            return _error(504, f"no answer within {settings.request_timeout_s:g} s")
        except Exception as exc:
            return _error(503, f"inference failed: {type(exc).__name__}", {"Retry-After": "1"})
        return {"predictions": results}

    @app.post("/v1/admin/reload")
    async def reload(request: Request):
        """Load another bundle (``{"bundle": path}``) atomically; a bundle that fails leaves the old one serving."""
        from ..errors import TuneForgeError

        try:
            body = json.loads(await request.body())
            path = body["bundle"]
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            return _error(422, 'give {"bundle": "<path to a bundle folder>"}')
        try:
            manifest = await engine.reload(str(path))
        except TuneForgeError as exc:
            return _error(422, f"kept the current model: {exc}")
        except Exception as exc:
            return _error(422, f"kept the current model: {type(exc).__name__}: {exc}")
        return {"status": "reloaded", "bundle": str(path), "task": manifest["task"]["type"]}

    return app


def create_app_from_env():
    """Factory for ``uvicorn --workers N``: settings travel in an environment variable."""
    configure_access_log()  # each worker process sets up its own log
    return create_app(ServeSettings(**json.loads(os.environ[SETTINGS_ENV])))


def configure_access_log() -> None:
    """One JSON line per request on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_log.handlers[:] = [handler]
    access_log.setLevel(logging.INFO)
    access_log.propagate = False


def settings_json(settings: ServeSettings) -> str:
    """Settings as the environment variable ``create_app_from_env`` reads."""
    return json.dumps(asdict(settings))
