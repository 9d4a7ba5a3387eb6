"""OpenAI-compatible routes for generation bundles: ``POST /v1/chat/completions`` and ``POST /v1/completions``.

Request fields: ``model`` (any string; the served bundle answers), ``messages`` (chat) or ``prompt``
(completions), ``max_tokens`` (at most the server's ``--max-new-tokens``; more is refused with 422),
``temperature`` (0: greedy, the default), ``top_p``, ``stop`` (a string or up to 4), ``seed``,
``stream`` (server-sent events in OpenAI's chunk format, ending with ``data: [DONE]``). A prompt over
``max_prompt_tokens`` is refused with 413. Prompts are built with the bundle's chat template exactly
as in training; requests are decoded together in static batches (``generation_batcher``).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

from fastapi import Request  # module level: FastAPI resolves the handlers' annotations here

from ..generation.decoding import DecodingOptions
from .requests import parse_json

ROLES = ("system", "user", "assistant")
MAX_STOPS = 4
_COMMON = {
    "model": {"type": "string"}, "max_tokens": {"type": "integer", "minimum": 1},
    "temperature": {"type": "number", "minimum": 0, "maximum": 2}, "top_p": {"type": "number"},
    "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": MAX_STOPS}]},
    "seed": {"type": "integer"}, "stream": {"type": "boolean"}, "n": {"type": "integer"},
}
CHAT_SCHEMA = {"type": "object", "required": ["messages"], "properties": {
    "messages": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["role", "content"], "properties": {
        "role": {"type": "string", "enum": list(ROLES)}, "content": {"type": "string"}}}}, **_COMMON}}
COMPLETION_SCHEMA = {"type": "object", "required": ["prompt"], "properties": {"prompt": {"type": "string"}, **_COMMON}}


class RequestProblem(Exception):
    """A request the server refuses: its HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _content(value: Any, where: str) -> str:
    """A message content: a string, or a list of ``{"type": "text", "text": ...}`` parts."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                                       for p in value):
        return "".join(p["text"] for p in value)
    raise RequestProblem(422, f"{where}: content must be a string or a list of text parts")


def parse_messages(body: dict[str, Any], max_chars: int) -> list[dict[str, str]]:
    """``messages`` of a chat request, checked (roles, alternation, sizes)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or len(messages) > 256:
        raise RequestProblem(422, "messages must be a list of 1 to 256 {role, content} objects")
    out = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise RequestProblem(422, f"messages[{i}]: role must be one of {', '.join(ROLES)}")
        out.append({"role": m["role"], "content": _content(m.get("content"), f"messages[{i}]")})
    if sum(len(m["content"]) for m in out) > max_chars:
        raise RequestProblem(413, f"messages hold more than {max_chars} characters")
    if out[-1]["role"] != "user":
        raise RequestProblem(422, "the last message must be the user's")
    return out


def decoding_of(body: dict[str, Any], base: DecodingOptions, cap: int) -> DecodingOptions:
    """The request's decoding settings over the bundle's; ``max_tokens`` above ``cap`` is refused."""
    from pydantic import ValidationError

    values = base.model_dump()
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            raise RequestProblem(422, "max_tokens must be a positive integer")
        if max_tokens > cap:
            raise RequestProblem(422, f"max_tokens {max_tokens} is over this server's limit of {cap}")
        values["max_new_tokens"] = max_tokens
    else:
        values["max_new_tokens"] = min(values["max_new_tokens"], cap)
    temperature = body.get("temperature")
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
            raise RequestProblem(422, "temperature must be a number from 0 to 2")
        values.update(do_sample=temperature > 0, temperature=temperature or 1.0)
    for key in ("top_p", "seed"):
        if body.get(key) is not None:
            values[key] = body[key]
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or len(stops) > MAX_STOPS or not all(isinstance(s, str) and s for s in stops):
            raise RequestProblem(422, f"stop must be a string or a list of up to {MAX_STOPS} non-empty strings")
        values["stop"] = stops
    if body.get("n", 1) != 1:
        raise RequestProblem(422, "n must be 1")
    try:
        return DecodingOptions.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RequestProblem(422, f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def _chunk(kind: str, rid: str, created: int, model: str, delta: dict | None = None, text: str | None = None,
           finish: str | None = None) -> str:
    if kind == "chat":
        choice = {"index": 0, "delta": delta or {}, "finish_reason": finish}
        body = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": [choice]}
    else:
        choice = {"index": 0, "text": text or "", "logprobs": None, "finish_reason": finish}
        body = {"id": rid, "object": "text_completion", "created": created, "model": model, "choices": [choice]}
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def _error(status: int, message: str, headers: dict[str, str] | None = None):
    """An error in OpenAI's shape (``{"error": {"message", "type", ...}}``), which its clients read."""
    from fastapi.responses import JSONResponse

    kind = {401: "authentication_error", 429: "rate_limit_error"}.get(status, "invalid_request_error"
                                                                      if status < 500 else "server_error")
    return JSONResponse({"error": {"message": message, "type": kind, "param": None, "code": status}},
                        status_code=status, headers=headers)


def add_openai_routes(app, engine, settings, metrics) -> None:
    """Register the two completion routes on ``app``."""
    from fastapi.responses import StreamingResponse

    error = _error

    from ..generation.chat_format import prompt_ids

    async def handle(request: Request, kind: str):
        raw = await request.body()
        if len(raw) > settings.max_body_bytes:
            metrics.rejected.labels("body_too_large").inc()
            return error(413, f"request body over {settings.max_body_bytes} bytes")
        body = parse_json(raw, settings.max_json_depth)
        if not isinstance(body, dict):
            metrics.rejected.labels("invalid").inc()
            return error(422, body if isinstance(body, str) else "the body must be a JSON object")
        predictor = engine.predictor
        if predictor is None or engine.generator is None:
            if predictor is not None and not predictor.task.generates_text:
                return error(404, "this bundle does not generate text; use POST /v1/predict")
            return error(503, "not ready: loading", {"Retry-After": "1"})
        try:
            if kind == "chat":
                ids = prompt_ids(predictor.tokenizer, parse_messages(body, settings.max_text_chars))
            else:
                prompt = body.get("prompt")
                if not isinstance(prompt, str) or not prompt:
                    raise RequestProblem(422, "prompt must be a non-empty string")
                if len(prompt) > settings.max_text_chars:
                    raise RequestProblem(413, f"prompt over {settings.max_text_chars} characters")
                ids = predictor.tokenizer(prompt, add_special_tokens=False)["input_ids"]
            decoding = decoding_of(body, predictor.task.settings.decoding, settings.max_new_tokens)
            limit = engine.max_prompt_tokens()
            if len(ids) > limit:
                raise RequestProblem(413, f"the prompt is {len(ids)} tokens; this server takes at most {limit}")
            stream = body.get("stream", False)
            if not isinstance(stream, bool):
                raise RequestProblem(422, "stream must be true or false")
        except RequestProblem as problem:
            metrics.rejected.labels("invalid").inc()
            return error(problem.status, str(problem))
        from .generation_batcher import GenerationQueueFull

        try:
            job = engine.generator.submit(ids, decoding)
        except GenerationQueueFull:
            metrics.rejected.labels("queue_full").inc()
            return error(429, "the server is at capacity; retry shortly", {"Retry-After": "1"})
        metrics.prompt_tokens.inc(len(ids))
        model = str(body.get("model") or engine.model_id())
        rid = ("chatcmpl-" if kind == "chat" else "cmpl-") + uuid.uuid4().hex[:24]
        created = int(time.time())
        if stream:
            return StreamingResponse(_stream(job, kind, rid, created, model, len(ids)), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        return await _whole(request, job, kind, rid, created, model, len(ids))

    def _observe(job, first: float | None, result: dict) -> None:
        metrics.generated_tokens.inc(result["completion_tokens"])
        if first is not None:
            metrics.time_to_first_token.observe(first - job.submitted)
            elapsed = time.monotonic() - first
            if result["completion_tokens"] > 1 and elapsed > 0:
                metrics.tokens_per_second.observe((result["completion_tokens"] - 1) / elapsed)

    async def _next(job, deadline: float):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise asyncio.TimeoutError
        return await asyncio.wait_for(job.events.get(), timeout=min(remaining, 0.25))

    async def _whole(request, job, kind, rid, created, model, prompt_tokens):
        deadline = time.monotonic() + settings.generation_timeout_s
        first = None
        try:
            while True:
                try:
                    event, value = await _next(job, deadline)
                except asyncio.TimeoutError:
                    if time.monotonic() >= deadline:
                        metrics.rejected.labels("deadline").inc()
                        return error(504, f"no answer within {settings.generation_timeout_s:g} s")
                    if await request.is_disconnected():
                        metrics.rejected.labels("client_gone").inc()
                        request.state.status_override = 499
                        return error(499, "client closed the request")
                    continue
                if event == "text" and first is None:
                    first = time.monotonic()
                if event == "error":
                    return error(503, f"generation failed: {value}", {"Retry-After": "1"})
                if event == "done":
                    break
        finally:
            job.cancel()  # a no-op once done; frees the slot when the client left or time ran out
        _observe(job, first, value)
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": value["completion_tokens"],
                 "total_tokens": prompt_tokens + value["completion_tokens"]}
        if kind == "chat":
            choice = {"index": 0, "message": {"role": "assistant", "content": value["text"]},
                      "finish_reason": value["finish_reason"]}
            return {"id": rid, "object": "chat.completion", "created": created, "model": model,
                    "choices": [choice], "usage": usage}
        choice = {"index": 0, "text": value["text"], "logprobs": None, "finish_reason": value["finish_reason"]}
        return {"id": rid, "object": "text_completion", "created": created, "model": model, "choices": [choice],
                "usage": usage}

    async def _stream(job, kind, rid, created, model, prompt_tokens):
        deadline = time.monotonic() + settings.generation_timeout_s
        first = None
        try:
            if kind == "chat":
                yield _chunk(kind, rid, created, model, delta={"role": "assistant", "content": ""})
            while True:
                try:
                    event, value = await _next(job, deadline)
                except asyncio.TimeoutError:
                    if time.monotonic() >= deadline:
                        metrics.rejected.labels("deadline").inc()
                        yield _chunk(kind, rid, created, model, finish="length")
                        break
                    continue
                if event == "text":
                    first = first or time.monotonic()
                    yield _chunk(kind, rid, created, model, delta={"content": value}, text=value)
                elif event == "error":
                    yield f"data: {json.dumps({'error': {'message': f'generation failed: {value}'}})}\n\n"
                    break
                else:
                    _observe(job, first, value)
                    yield _chunk(kind, rid, created, model, finish=value["finish_reason"])
                    break
            yield "data: [DONE]\n\n"
        finally:
            job.cancel()  # the client went away (or the stream ended): the batch stops this row

    @app.post("/v1/chat/completions", openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": CHAT_SCHEMA}}}}, responses={413: {"description": "prompt too long"},
                                                 422: {"description": "invalid request"}, 429: {"description": "busy"}})
    async def chat_completions(request: Request):
        """OpenAI-compatible chat completion (``stream: true`` for server-sent events)."""
        return await handle(request, "chat")

    @app.post("/v1/completions", openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": COMPLETION_SCHEMA}}}}, responses={413: {"description": "prompt too long"},
                                            422: {"description": "invalid request"}, 429: {"description": "busy"}})
    async def completions(request: Request):
        """OpenAI-compatible text completion of a raw prompt (no chat template)."""
        return await handle(request, "text")
