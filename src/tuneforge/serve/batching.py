"""Dynamic micro-batching: concurrent requests share one forward pass.

Requests wait in a bounded queue. One worker takes the oldest request, then keeps taking more
until the batch holds ``max_batch_size`` texts or ``max_wait_ms`` has passed since it started
(it does not wait when no other request is in flight: a lone client pays no batching delay),
runs the model once on a thread (so the event loop keeps serving), and hands each request its
own slice of the results. A request whose client left, or whose deadline passed, while it
waited is dropped before the forward pass, so it frees its place without costing compute.

When a forward pass fails, each request of the batch runs again alone: the ones that succeed get
their answers, and a request that fails alone while the model still answers a known-good input
(``healthy``) is refused with ``InputRejected``. Only when the model fails that input too is the
engine reported broken (``on_error``).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable


class QueueFull(Exception):
    """The queue holds ``max_queue`` texts already: the caller should retry later."""


class InputRejected(Exception):
    """The model failed on this request's input while it still answers others: the input's fault."""


@dataclass
class Pending:
    """One request waiting for its predictions."""

    examples: list[dict[str, Any]]
    deadline: float
    future: asyncio.Future = field(repr=False, default=None)


class MicroBatcher:
    """Group concurrent requests into batched calls of ``predict(examples) -> results``.

    Example:
        >>> batcher = MicroBatcher(predictor.predict, max_batch_size=32, max_wait_ms=5, max_queue=256)
        >>> await batcher.start(); results = await batcher.submit([{"text": "hi"}], timeout=2.0)
    """

    def __init__(self, predict: Callable[[list[dict[str, Any]]], list[dict[str, Any]]], *, max_batch_size: int = 32,
                 max_wait_ms: float = 5.0, max_queue: int = 256, on_batch: Callable[[int], None] | None = None,
                 on_error: Callable[[BaseException], None] | None = None,
                 in_flight: Callable[[], int] | None = None, healthy: Callable[[], bool] | None = None) -> None:
        self.predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.max_queue = max_queue
        self.on_batch = on_batch or (lambda n: None)
        self.on_error = on_error or (lambda exc: None)
        self.in_flight = in_flight  # requests the server is handling; None: always wait up to max_wait
        self.healthy = healthy  # () -> does the model still answer a known-good input? None: assume not
        self.queue: asyncio.Queue[Pending] = asyncio.Queue()
        self.queued_texts = 0
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tuneforge-infer")
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Start the worker on the running event loop."""
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop the worker (requests still queued are cancelled)."""
        if self._task:
            self._task.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def depth(self) -> int:
        """Texts waiting in the queue."""
        return self.queued_texts

    def submit(self, examples: list[dict[str, Any]], timeout: float) -> asyncio.Future:
        """Queue ``examples``; the future resolves to (their predictions, texts in the forward pass).

        Raises ``QueueFull`` when the queue cannot take them."""
        if self.queued_texts + len(examples) > self.max_queue:
            raise QueueFull
        pending = Pending(examples, time.monotonic() + timeout, asyncio.get_running_loop().create_future())
        self.queued_texts += len(examples)
        self.queue.put_nowait(pending)
        return pending.future

    def _take(self, pending: Pending) -> bool:
        """Account for a request leaving the queue; False when it should be skipped."""
        self.queued_texts -= len(pending.examples)
        if pending.future.done():  # cancelled: client gone or deadline handled by the caller
            return False
        if time.monotonic() > pending.deadline:
            pending.future.set_exception(asyncio.TimeoutError())
            return False
        return True

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            first = await self.queue.get()
            if not self._take(first):
                continue
            batch, size = [first], len(first.examples)
            until = loop.time() + self.max_wait
            while size < self.max_batch_size:
                if self.queue.empty() and self.in_flight is not None and self.in_flight() <= len(batch):
                    break  # nobody else is on the way: waiting would only add latency
                remaining = until - loop.time()
                if remaining <= 0:
                    break
                try:
                    nxt = await asyncio.wait_for(self.queue.get(), remaining)
                except asyncio.TimeoutError:
                    break
                if self._take(nxt):
                    batch.append(nxt)
                    size += len(nxt.examples)
            await self._forward(loop, batch)

    async def _forward(self, loop, batch: list[Pending]) -> None:
        """Run one forward pass for ``batch``; on failure, find whose input caused it (see the module doc)."""
        examples = [e for p in batch for e in p.examples]
        self.on_batch(len(examples))
        try:
            results = await loop.run_in_executor(self.executor, self.predict, examples)
        except Exception as exc:
            if len(batch) > 1:  # one request may be to blame: each runs alone
                for p in batch:
                    if not p.future.done():
                        await self._forward(loop, [p])
                return
            healthy = self.healthy is not None and await loop.run_in_executor(self.executor, self.healthy)
            if not healthy:  # the engine failed: the caller hears it, and so does the server
                self.on_error(exc)
            if not batch[0].future.done():
                batch[0].future.set_exception(InputRejected(f"{type(exc).__name__}: {exc}"[:300]) if healthy else exc)
            return
        start = 0
        for p in batch:
            part = results[start : start + len(p.examples)]
            start += len(p.examples)
            if not p.future.done():
                p.future.set_result((part, len(examples)))  # its predictions, and the batch they ran in
