"""Run model work that is not a served prediction (loading, warm-up, explanations) on a thread that ends.

PyTorch computes on CPU through OpenMP, and each thread that calls into it keeps its own team of
worker threads for as long as it lives. Two live teams on a 2-core machine made every prediction
about twice as slow (measured on an AMX Xeon: 6.7 ms per text with one computing thread, 14 ms once
a second thread had computed, for as long as both lived). So the server predicts on one thread only
(the micro-batcher's), and everything else runs on a thread that ends when its work does: its
OpenMP team ends with it.
"""

from __future__ import annotations

import threading
from typing import Any, Callable


def in_passing_thread(work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``work(*args, **kwargs)`` on a new thread that ends afterwards; its result, or its exception.

    Example:
        >>> predictor = in_passing_thread(Predictor.load, "runs/demo/bundle")
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = work(*args, **kwargs)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="tuneforge-passing", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]
