"""``POST /v1/explain``: word attributions over HTTP (integrated gradients, per entity for taggers, or
``"method": "occlusion"`` on any backend), with limits of its own.

An explanation costs ``steps`` forward and backward passes per text, so the route takes at most
``--max-explain-texts`` texts and ``--max-explain-steps`` steps (422 beyond), the body and text limits
of ``/v1/predict`` (413/422), one explanation at a time (429 while one runs), and a deadline (504).
Keys and Host/Origin checks are the guard middleware's, as for every route.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Request  # module level: FastAPI resolves the handlers' annotations here

from ..explain.attributions import DEFAULT_STEPS
from .requests import ALIASES, PREDICT_SCHEMA, examples_from_body, parse_json
from .responses import error_response as _error

EXPLAIN_SCHEMA: dict[str, Any] = {
    "title": "ExplainRequest",
    "description": "Texts as for /v1/predict, plus the label to explain (`target`, default the predicted one) and "
                   "the integration steps (`steps`, default 50 or the server's limit).",
    "type": "object",
    "additionalProperties": False,
    "properties": {**{k: v for k, v in PREDICT_SCHEMA["properties"].items() if k not in ALIASES},
                   "target": {"type": "string", "minLength": 1, "description": "a label name"},
                   "steps": {"type": "integer", "minimum": 1, "description": "integration steps (at most "
                                                                              "--max-explain-steps)"},
                   "method": {"enum": ["integrated_gradients", "occlusion"],
                              "description": "integrated_gradients (default; torch) or occlusion (leave one word "
                                             "out; any backend)"}},
}


def explain_problem(body: Any, max_steps: int) -> str | None:
    """Why the explanation-only fields of a body are wrong (the 422 message), or None."""
    if not isinstance(body, dict):
        return None
    steps, target = body.get("steps", 1), body.get("target")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= max_steps:
        return f"'steps' must be an integer from 1 to {max_steps}"
    if target is not None and (not isinstance(target, str) or not target.strip()):
        return "'target' must be a label name"
    if body.get("method", "integrated_gradients") not in ("integrated_gradients", "occlusion"):
        return "'method' must be integrated_gradients or occlusion"
    return None


def add_explain_route(app, engine, settings, metrics) -> None:
    """Register ``POST /v1/explain`` on ``app``."""
    busy = asyncio.Semaphore(1)

    @app.post("/v1/explain", openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": EXPLAIN_SCHEMA}}}}, responses={
        413: {"description": "body too large"}, 422: {"description": "invalid input, or a model it cannot explain"},
        429: {"description": "an explanation is running"}, 503: {"description": "not ready"},
        504: {"description": "deadline passed"}})
    async def explain(request: Request):
        """Per-word attributions (integrated gradients) of each text to its predicted label or `target`."""
        raw = await request.body()
        if len(raw) > settings.max_body_bytes:
            metrics.rejected.labels("body_too_large").inc()
            return _error(413, f"request body over {settings.max_body_bytes} bytes")
        body = parse_json(raw, settings.max_json_depth)
        if isinstance(body, str):
            return _error(422, body)
        predictor = engine.predictor
        if predictor is None or not engine.ready:
            return _error(503, "not ready: loading", {"Retry-After": "1"})
        extra = {k: body.pop(k) for k in ("steps", "target", "method") if isinstance(body, dict) and k in body}
        problem = explain_problem(extra, settings.max_explain_steps)
        method = extra.get("method", "integrated_gradients")
        task = predictor.task
        if task.logit_kind is None and (method == "occlusion" or not task.tags_words) or (
                method != "occlusion" and predictor.backend != "torch"):
            return _error(422, "this bundle cannot be explained this way here (integrated gradients: text "
                               "classification, regression or entities on the torch backend; occlusion: "
                               "classification or regression on any backend)")
        steps = extra.get("steps", min(DEFAULT_STEPS, settings.max_explain_steps))
        if problem:
            return _error(422, problem)
        needs_pair = bool(predictor.manifest.data.text_pair_column) or predictor.task.reads_text_pairs
        examples = examples_from_body(body, settings.max_explain_texts, settings.max_text_chars, needs_pair)
        if isinstance(examples, str):
            metrics.rejected.labels("invalid").inc()
            return _error(422, examples)
        if busy.locked():
            metrics.rejected.labels("queue_full").inc()
            return _error(429, "an explanation is running; retry shortly", {"Retry-After": "1"})
        request.state.texts = [e["text"] for e in examples]
        from ..errors import TuneForgeError
        from ..explain import explain
        from .passing_thread import in_passing_thread

        pairs = [e["text_pair"] for e in examples]
        await busy.acquire()  # released when the work ends, even after a 504 (the thread cannot be stopped)
        work = asyncio.ensure_future(asyncio.to_thread(  # a thread that ends: see ``passing_thread``
            in_passing_thread, explain, predictor, [e["text"] for e in examples], pairs if any(pairs) else None,
            extra.get("target"), steps, method, predictor.backend.split(":")[0]))
        work.add_done_callback(lambda _: busy.release())
        done, _ = await asyncio.wait([work], timeout=settings.explain_timeout_s)
        if not done:
            metrics.rejected.labels("deadline").inc()
            return _error(504, f"no explanation within {settings.explain_timeout_s:g} s")
        try:
            results = work.result()
        except TuneForgeError as exc:
            return _error(422, str(exc))
        except Exception as exc:
            return _error(503, f"explanation failed: {type(exc).__name__}", {"Retry-After": "1"})
        return {"explanations": results}
