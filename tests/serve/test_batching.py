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


def failing_on(word, calls, broken=None):
    """A model that raises on any batch holding ``word`` (or on everything once ``broken`` is set)."""
    def predict(examples):
        calls.append([e["text"] for e in examples])
        time.sleep(0.02)
        if (broken and broken[0]) or any(word in e["text"] for e in examples):
            raise TypeError("cannot encode this input")
        return [{"label": e["text"]} for e in examples]
    return predict


def test_a_bad_input_fails_its_own_request_not_its_batch_mates_nor_the_engine():
    calls, errors = [], []

    async def main():
        predict = failing_on("BAD", calls)
        batcher = MicroBatcher(predict, max_batch_size=8, max_wait_ms=50, max_queue=100, on_error=errors.append,
                               healthy=lambda: bool(predict([{"text": "warm-up"}])))
        await batcher.start()
        futures = [batcher.submit([{"text": t}], timeout=5) for t in ("good 1", "BAD", "good 2")]
        results = await asyncio.gather(*futures, return_exceptions=True)
        await batcher.stop()
        return results

    from tuneforge.serve.batching import InputRejected

    first, bad, third = run(main())
    assert calls[0] == ["good 1", "BAD", "good 2"]  # one batch first, then each request alone
    assert first[0] == [{"label": "good 1"}] and third[0] == [{"label": "good 2"}]
    assert isinstance(bad, InputRejected) and "cannot encode" in str(bad)
    assert errors == []  # the engine is not reported broken


def test_an_engine_that_fails_every_input_is_reported_broken():
    calls, errors, broken = [], [], [True]

    async def main():
        predict = failing_on("never", calls, broken)

        def healthy():
            try:
                return bool(predict([{"text": "warm-up"}]))
            except TypeError:
                return False

        batcher = MicroBatcher(predict, max_batch_size=8, max_wait_ms=10, max_queue=100, on_error=errors.append,
                               healthy=healthy)
        await batcher.start()
        result = await asyncio.gather(batcher.submit([{"text": "fine"}], timeout=5), return_exceptions=True)
        await batcher.stop()
        return result[0]

    from tuneforge.serve.batching import InputRejected

    outcome = run(main())
    assert isinstance(outcome, TypeError) and not isinstance(outcome, InputRejected)
    assert len(errors) == 1
