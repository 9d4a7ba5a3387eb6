"""``tuneforge serve`` with faults injected into its engine, for tests of slow and broken models.

Usage: ``python faulty_serve.py DELAY_MS FAIL_AFTER serve BUNDLE [options]``: every forward pass
takes DELAY_MS longer (and so does every generated token); after FAIL_AFTER passes (-1: never) every pass raises. The warm-up at load
time does not count (it runs outside the engine's batcher). The server's own code has no test hooks.
"""

from __future__ import annotations

import sys
import time

from tuneforge.cli import main
from tuneforge.serve.engine import Engine

delay_ms, fail_after = float(sys.argv[1]), int(sys.argv[2])
state = {"left": fail_after}
plain_predict = Engine._predict


def faulty_predict(self, examples):
    """The engine's forward pass, slowed down, and broken after ``fail_after`` passes."""
    if delay_ms:
        time.sleep(delay_ms / 1000)
    if fail_after >= 0:
        if state["left"] <= 0:
            raise RuntimeError("inference engine failure (test fault)")
        state["left"] -= 1
    return plain_predict(self, examples)


Engine._predict = faulty_predict
if delay_ms:  # generation bundles: every decoding step of every row is slowed down as well
    from tuneforge.generation import stepwise

    plain_pick = stepwise._pick

    def slow_pick(logits, row):
        time.sleep(delay_ms / 1000)
        return plain_pick(logits, row)

    stepwise._pick = slow_pick
sys.argv = ["tuneforge", *sys.argv[3:]]
main()
