"""The micro-batcher alone: batch sizes, the no-wait rule, cancelled and expired requests, a full queue."""

from __future__ import annotations

import asyncio
import time

import pytest

from tuneforge.serve.batching import MicroBatcher, QueueFull


def run(coro):
    return asyncio.run(coro)


def echo(calls):
    def predict(examples):
        calls.append(len(examples))
        time.sleep(0.05)
        return [{"label": e["text"]} for e in examples]
    return predict


def test_concurrent_requests_share_a_batch_and_get_their_own_results():
    calls = []

    async def main():
        batcher = MicroBatcher(echo(calls), max_batch_size=8, max_wait_ms=50, max_queue=100)
        await batcher.start()
        futures = [batcher.submit([{"text": str(i)}, {"text": f"{i}b"}], timeout=5) for i in range(6)]
        results = await asyncio.gather(*futures)
        await batcher.stop()
        return results

    results = run(main())
    assert [part for part, _ in results] == [[{"label": str(i)}, {"label": f"{i}b"}] for i in range(6)]
    assert calls == [8, 4]  # 2 texts per request, 8 per batch
    assert [size for _, size in results] == [8] * 4 + [4] * 2


def test_a_lone_request_does_not_wait_for_company():
    async def main():
        batcher = MicroBatcher(lambda ex: [{}] * len(ex), max_batch_size=8, max_wait_ms=500, max_queue=10,
                               in_flight=lambda: 1)
        await batcher.start()
        started = time.perf_counter()
        await batcher.submit([{"text": "a"}], timeout=5)
        elapsed = time.perf_counter() - started
        await batcher.stop()
        return elapsed

    assert run(main()) < 0.25  # well under max_wait_ms


def test_cancelled_and_expired_requests_are_skipped_and_a_full_queue_refuses():
    calls = []

    async def main():
        batcher = MicroBatcher(echo(calls), max_batch_size=1, max_wait_ms=0, max_queue=3)
        await batcher.start()
        first = batcher.submit([{"text": "run"}], timeout=5)
        gone = batcher.submit([{"text": "gone"}], timeout=5)
        late = batcher.submit([{"text": "late"}], timeout=0.01)
        with pytest.raises(QueueFull):
            batcher.submit([{"text": "one too many"}], timeout=5)
        gone.cancel()
        await first
        with pytest.raises(asyncio.TimeoutError):
            await late
        await asyncio.sleep(0.05)
        depth = batcher.depth()
        await batcher.stop()
        return depth

    assert run(main()) == 0
    assert calls == [1]  # only "run" reached the model
