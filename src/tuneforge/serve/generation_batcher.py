"""The server's generation queue: requests wait briefly, then decode together (static batching).

One worker thread takes up to ``max_batch`` waiting requests (waiting up to ``max_wait_ms`` for more
once the first arrives), decodes them as one batch (``generation.stepwise``) and streams each
request's text back to its asyncio task. A request whose client went away is dropped from its batch
at the next step; a full queue refuses new requests at once.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ..generation.decoding import DecodingOptions


class GenerationQueueFull(Exception):
    """More requests are waiting than the server accepts."""


@dataclass
class Job:
    """One request: its prompt and settings, the events its handler reads, and its outcome."""

    prompt: list[int]
    options: DecodingOptions
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue = field(default_factory=asyncio.Queue)  # ("text", piece) ... ("done", result)
    cancelled: threading.Event = field(default_factory=threading.Event)
    submitted: float = field(default_factory=time.monotonic)

    def put(self, kind: str, value: Any) -> None:
        """Hand an event to the request's handler (from the worker thread)."""
        self.loop.call_soon_threadsafe(self.events.put_nowait, (kind, value))

    def cancel(self) -> None:
        """The client went away: stop generating for it."""
        self.cancelled.set()


class GenerationBatcher:
    """Queue + worker thread around ``decode`` (a function of a list of ``stepwise.Row``)."""

    def __init__(self, decode: Callable, max_batch: int = 16, max_wait_ms: float = 20.0, max_queue: int = 64,
                 on_batch: Callable[[int], None] = lambda n: None, on_cancelled: Callable[[], None] = lambda: None) -> None:
        self.decode = decode
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.on_batch = on_batch
        self.on_cancelled = on_cancelled
        self.pending: queue.Queue[Job | None] = queue.Queue()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker thread."""
        self.thread = threading.Thread(target=self._work, name="tuneforge-generation", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Let the worker finish its batch and end."""
        self.pending.put(None)

    def depth(self) -> int:
        """Requests waiting for a batch."""
        return self.pending.qsize()

    def submit(self, prompt: list[int], options: DecodingOptions) -> Job:
        """Queue a request; raises ``GenerationQueueFull`` when too many wait already."""
        if self.pending.qsize() >= self.max_queue:
            raise GenerationQueueFull()
        job = Job(prompt, options, asyncio.get_running_loop())
        self.pending.put(job)
        return job

    def _batch(self) -> list[Job] | None:
        first = self.pending.get()
        if first is None:
            return None
        jobs = [first]
        deadline = time.monotonic() + self.max_wait
        while len(jobs) < self.max_batch:
            try:
                job = self.pending.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is None:
                self.pending.put(None)
                break
            jobs.append(job)
        return [j for j in jobs if not j.cancelled.is_set()]

    def _work(self) -> None:
        from ..generation.stepwise import Row

        while (jobs := self._batch()) is not None:
            if not jobs:
                continue
            rows = [Row(job.prompt, job.options, emit=lambda piece, job=job: job.put("text", piece),
                        cancelled=job.cancelled.is_set) for job in jobs]
            self.on_batch(len(rows))
            try:
                self.decode(rows)
            except Exception as exc:  # every request of the batch learns it failed
                for job in jobs:
                    job.put("error", f"{type(exc).__name__}: {str(exc)[:200]}")
                continue
            for job, row in zip(jobs, rows):
                if row.finish_reason == "cancelled":
                    self.on_cancelled()
                job.put("done", {"text": row.text, "completion_tokens": len(row.tokens),
                                 "finish_reason": row.finish_reason})
