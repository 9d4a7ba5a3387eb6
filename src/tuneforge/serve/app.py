"""The HTTP service for a bundle (FastAPI): predictions through the micro-batcher, behind limits and keys.

Routes: ``POST /v1/predict``, ``GET /v1/models``, ``GET /livez``, ``GET /readyz``, ``GET /metrics``,
``POST /v1/admin/reload`` (a folder under ``--bundle-root`` or ``registry://NAME@STAGE`` with
``--registry``), OpenAPI at ``/docs``. Every route but ``/livez`` and ``/readyz`` needs
``Authorization: Bearer <key>`` when keys are configured; admin routes need an admin key then.
Requests from other web origins, to host names the server is not bound to, and POSTs that are
not ``application/json`` are refused (CSRF and DNS rebinding); image bundles also take
``multipart/form-data`` uploads on ``/v1/predict``, which the origin check guards as it guards
JSON. Bad input gets a 4xx with a message, never a 5xx; one input the model cannot take fails its
own request only. One JSON log line and one metrics count per response, errors included (id,
route template, status, latency, batch size; the texts only with ``log_texts``).
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
from dataclasses import asdict

from fastapi import FastAPI, Request  # module level: FastAPI resolves the handlers' annotations here

from .batching import InputRejected, QueueFull
from .metrics import service_metrics as _metrics
from .engine import SETTINGS_ENV, Engine, ServeSettings  # noqa: F401  (ServeSettings, SETTINGS_ENV: this module's API)
from .image_requests import TooLarge, images_from_body, images_from_form
from .requests import PREDICT_SCHEMA, RELOAD_SCHEMA, examples_from_body, parse_json
from .responses import error_response as _error
from .security import allowed_host_names, authorized, host_allowed, origin_allowed

access_log = logging.getLogger("tuneforge.serve.access")


class GuardAndLog:
    """Pure ASGI middleware: host, origin, content type, API keys, body size; metrics and one JSON log
    line for every response, including errors and failures inside the app.

    (Not Starlette's BaseHTTPMiddleware, which hides client disconnects from the handlers.)
    """

    def __init__(self, app, settings: ServeSettings, metrics, open_routes: set[str], routes) -> None:
        self.app, self.settings, self.metrics, self.open_routes = app, settings, metrics, open_routes
        self.routes = routes  # () -> the route templates the app serves
        self.hosts = allowed_host_names(settings.host, settings.allowed_hosts)

    def _refusal(self, scope, headers: dict[str, str]):
        """The error response for a request refused before the app sees it, or None."""
        path, method = scope["path"], scope["method"]
        if not host_allowed(headers.get("host"), self.hosts):
            self.metrics.rejected.labels("bad_host").inc()
            return _error(421, "this server does not answer for that Host name")
        if not origin_allowed(headers.get("origin"), headers.get("host"), self.settings.cors_origins):
            self.metrics.rejected.labels("cross_origin").inc()
            return _error(403, "cross-origin requests are refused (start the server with --cors-origin to allow one)")
        if path.startswith("/v1/admin/"):
            if self.settings.api_keys and not self.settings.admin_keys:
                return _error(403, "admin routes are off: this server uses API keys and has no --admin-key-file")
            if self.settings.admin_keys and not authorized(headers.get("authorization"), self.settings.admin_keys):
                return _error(401, "admin routes need an admin key (Authorization: Bearer <admin key>)",
                              {"WWW-Authenticate": "Bearer"})
        elif path not in self.open_routes and self.settings.api_keys and not authorized(
                headers.get("authorization"), self.settings.api_keys):
            return _error(401, "missing or wrong API key (Authorization: Bearer <key>)", {"WWW-Authenticate": "Bearer"})
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if method == "POST" and content_type != "application/json" and not (
                content_type == "multipart/form-data" and path == "/v1/predict"):  # image uploads: checked there
            self.metrics.rejected.labels("content_type").inc()
            return _error(415, "send the body as JSON with Content-Type: application/json")
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            return _error(400, "Content-Length is not a number")
        if length > self.settings.max_body_bytes:
            self.metrics.rejected.labels("body_too_large").inc()
            return _error(413, f"request body over {self.settings.max_body_bytes} bytes")
        return None

    def _route(self, scope) -> str:
        """The route template for metrics and logs; ``unmatched`` for any path the app does not serve."""
        route = scope.get("route")
        if route is not None and getattr(route, "path", None):
            return route.path
        return scope["path"] if scope["path"] in self.routes() else "unmatched"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        given_id = headers.get("x-request-id", "")
        request_id = given_id if 0 < len(given_id) <= 64 and given_id.isascii() and given_id.isprintable() \
            else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["batch_size"] = 0
        sent = {"status": None}

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                sent["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        refusal = self._refusal(scope, headers)
        try:
            await (refusal or self.app)(scope, receive, send_with_id)
        except Exception as exc:  # a bug or a fault: answer 500 once, log and count it, keep the connection
            access_log.error(json.dumps({"id": request_id, "error": f"{type(exc).__name__}: {exc}"[:500]}))
            if sent["status"] is None:
                await _error(500, "internal error; the request id is in the logs")(scope, receive, send_with_id)
            else:
                sent["status"] = 500
        status = state.get("status_override") or sent["status"] or 500
        seconds = time.perf_counter() - started
        route = self._route(scope)
        self.metrics.requests.labels(route, str(status)).inc()
        self.metrics.latency.labels(route).observe(seconds)
        line = {"id": request_id, "route": route, "method": scope["method"], "status": status,
                "latency_ms": round(1000 * seconds, 2), "batch_size": state.get("batch_size", 0)}
        if self.settings.log_texts and "texts" in state:  # personal data masked, off the event loop
            from starlette.concurrency import run_in_threadpool

            from ..data.pii import mask_for_logs

            line["texts"] = await run_in_threadpool(mask_for_logs, state["texts"])
        access_log.info(json.dumps(line))




def _timestamp(created: str) -> int:
    """Unix time of a manifest's ISO creation time (0 when absent)."""
    from datetime import datetime

    try:
        return int(datetime.fromisoformat(created).timestamp())
    except ValueError:
        return 0


def create_app(settings: ServeSettings, predictor=None):
    """The FastAPI application serving ``settings.bundle`` (``predictor``: that bundle, already loaded).

    Example:
        >>> app = create_app(ServeSettings(bundle="runs/demo/bundle"))
        >>> uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    from fastapi.responses import JSONResponse, PlainTextResponse

    metrics = _metrics()
    engine = Engine(settings, metrics)
    engine.predictor = predictor  # already loaded by the caller (tuneforge serve): not loaded twice
    from .watch import Watch

    watch = Watch(settings, metrics.registry)  # label counts, confidence, drift gauges; --capture
    from .canary import Canary

    canary = Canary(settings, metrics) if settings.canary else None

    @asynccontextmanager
    async def lifespan(app):
        if settings.log_texts:  # build the masker before the first request needs it
            from starlette.concurrency import run_in_threadpool

            from ..data.pii import mask_for_logs

            await run_in_threadpool(mask_for_logs, ["warm-up"])
        await engine.start()
        if canary:
            await canary.start(engine)
        watch.use(engine.predictor, settings.bundle)
        yield
        engine.ready = False
        watch.close()
        for running in (engine, canary.engine if canary else None):
            if running is not None and running.batcher:
                await running.batcher.stop()
        if engine.generator:
            engine.generator.stop()

    app = FastAPI(title="TuneForge", lifespan=lifespan)
    app.state.engine = engine

    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "X-Request-Id"])
    app.add_middleware(GuardAndLog, settings=settings, metrics=metrics, open_routes={"/livez", "/readyz"},
                       routes=lambda: {getattr(r, "path", None) for r in app.routes})

    @app.api_route("/livez", methods=["GET", "HEAD"])
    async def livez():
        """The process is up."""
        return {"status": "alive"}

    @app.api_route("/readyz", methods=["GET", "HEAD"], responses={503: {"description": "not ready"}})
    async def readyz(request: Request):
        """Ready once the model is loaded and a warm-up inference succeeded; unready if the engine fails or
        the server is shutting down. Details (bundle, error) only for a caller with an API key."""
        details = bool(settings.api_keys) and authorized(request.headers.get("authorization"), settings.api_keys)
        if engine.ready and not engine.draining:
            return {"status": "ready", **({"bundle": settings.bundle} if details else {})}
        reason = "shutting_down" if engine.draining else "engine_failed" if engine.failed else "loading"
        body = {"status": "not ready", "reason": reason}
        if details and engine.failed:
            body["detail"] = engine.failed
        return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})

    @app.get("/metrics")
    async def prometheus_metrics():
        """Prometheus text format."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        metrics.queue_depth.set(engine.batcher.depth() if engine.batcher else 0)
        metrics.ready.set(1 if engine.ready and not engine.draining else 0)
        await asyncio.to_thread(watch.update)
        return PlainTextResponse(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def models():
        """The served model in OpenAI's list format (``data``), plus the bundle's manifest: task, labels,
        method, versions, metrics."""
        m = engine.predictor.manifest
        listed = {"id": engine.model_id(), "object": "model", "created": _timestamp(m.created), "owned_by": "tuneforge"}
        return {"object": "list", "data": [listed], "bundle": settings.bundle,
                "backend": getattr(engine.predictor, "backend", settings.backend),
                # PyTorch's compute precision; other runtimes (and two of them) name theirs in ``backend``
                "precision": getattr(engine.predictor, "precision", None) and engine.predictor.precision.name
                if getattr(engine.predictor, "backend", "torch") == "torch" else None,
                "task": m.task.model_dump(mode="json"),
                "method": m.method.model_dump(mode="json", include={"name", "merged", "trainable_parameters",
                                                                    "total_parameters"}),
                "base_model": m.base_model.name, "versions": m.versions, "metrics": m.metrics, "created": m.created}

    @app.post("/v1/predict", openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": PREDICT_SCHEMA}}}}, responses={
        413: {"description": "body too large"}, 415: {"description": "not JSON"},
        422: {"description": "invalid input"}, 429: {"description": "at capacity"},
        503: {"description": "not ready"}, 504: {"description": "deadline passed"}})
    async def predict(request: Request):
        """Predict one text or a list: label and scores, or entities with character spans. Image bundles take
        base64 images in JSON (`image`, `images`) or files in a multipart/form-data upload (fields `image`,
        `images`)."""
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
        upload = request.headers.get("content-type", "").split(";")[0].strip().lower() == "multipart/form-data"
        body = None if upload else parse_json(raw, settings.max_json_depth)
        if isinstance(body, str):
            metrics.rejected.labels("invalid").inc()
            return _error(422, body)
        if engine.predictor is None:
            return _error(503, "not ready: loading", {"Retry-After": "1"})
        if upload and not engine.predictor.task.reads_images:
            metrics.rejected.labels("content_type").inc()
            return _error(415, "multipart uploads are for image models: send the body as JSON with "
                               "Content-Type: application/json")
        if engine.predictor.task.generates_text:
            return _error(422, "this bundle generates text: use POST /v1/chat/completions or /v1/completions")
        if engine.predictor.task.reads_images:
            try:
                examples = (await images_from_form(request, settings.max_texts, settings.max_body_bytes) if upload
                            else images_from_body(body, settings.max_texts, settings.max_body_bytes))
            except TooLarge as exc:
                metrics.rejected.labels("body_too_large").inc()
                return _error(413, str(exc))
        else:
            needs_pair = bool(engine.predictor.manifest.data.text_pair_column) or engine.predictor.task.reads_text_pairs
            examples = examples_from_body(body, settings.max_texts, settings.max_text_chars, needs_pair)
        if isinstance(examples, str):
            metrics.rejected.labels("invalid").inc()
            return _error(422, examples)
        if engine.failed or engine.batcher is None:
            return _error(503, "not ready: " + ("engine failed" if engine.failed else "loading"), {"Retry-After": "1"})
        request.state.texts = [e["text"] for e in examples]
        chosen, model = canary.pick(engine) if canary else (engine, "primary")
        started = time.monotonic()
        try:
            future = chosen.batcher.submit(examples, settings.request_timeout_s)
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
        except InputRejected as exc:
            metrics.rejected.labels("invalid").inc()
            return _error(422, f"the model cannot take this input: {exc}")
        except Exception as exc:
            return _error(503, f"inference failed: {type(exc).__name__}", {"Retry-After": "1"})
        if canary:
            canary.record(model, results, started)
        if model == "primary":  # the drift profile is the primary bundle's
            watch.observe(examples, results, engine.model_id())
        return {"predictions": results, **({"model": model} if canary else {})}

    @app.post("/v1/admin/reload", openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": RELOAD_SCHEMA}}}}, responses={
        403: {"description": "reload is off, or the bundle is outside the bundle root"},
        422: {"description": "the bundle did not load; the old model keeps serving"}})
    async def reload(request: Request):
        """Load another bundle (``{"bundle": path}`` under ``--bundle-root``) atomically; a bundle that fails
        leaves the old one serving."""
        from ..errors import TuneForgeError

        body = parse_json(await request.body(), settings.max_json_depth)
        if not isinstance(body, dict) or set(body) != {"bundle"} or not isinstance(body["bundle"], str) \
                or not body["bundle"].strip() or "\x00" in body["bundle"]:
            return _error(422, 'give {"bundle": "<path to a bundle folder under the bundle root>"}')
        from .reload_target import reload_target

        target = reload_target(body["bundle"], settings)
        if isinstance(target[0], int):
            return _error(*target)
        path, shown = target
        try:
            manifest = await engine.reload(str(path))
            watch.use(engine.predictor, str(path))
        except TuneForgeError as exc:
            return _error(422, f"kept the current model: {str(exc).replace(str(path), shown)}")
        except Exception as exc:
            return _error(422, f"kept the current model: {type(exc).__name__}")
        return {"status": "reloaded", "bundle": shown, "task": manifest.task.type}

    from .explain_route import add_explain_route
    from .openai_routes import add_openai_routes

    add_openai_routes(app, engine, settings, metrics)
    add_explain_route(app, engine, settings, metrics)
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
