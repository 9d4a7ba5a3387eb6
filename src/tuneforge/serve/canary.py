"""Canary routing (``tuneforge serve BUNDLE --canary CANDIDATE --canary-share 0.1``): a second engine
with the candidate bundle answers a seeded share of ``/v1/predict`` requests; each response says which
model answered (``"model": "primary" | "canary"``) and the metrics count predictions, labels and
latency per model, so the two versions can be compared before the candidate is promoted. The
candidate must do the same task with the same labels; while it is not ready (loading, or failed),
everything goes to the primary model."""

from __future__ import annotations

import random
import time
from dataclasses import replace


def check_candidate(primary, candidate) -> None:
    """Refuse a candidate manifest that does not do the primary's task with its labels."""
    from ..errors import ConfigError

    mine, theirs = candidate.task, primary.task
    if (mine.type, mine.label_names) != (theirs.type, theirs.label_names):
        raise ConfigError(f"--canary: the candidate does {mine.type} with labels {mine.label_names}; the served "
                          f"bundle does {theirs.type} with {theirs.label_names}")


class Canary:
    """The candidate's engine and the routing decision."""

    def __init__(self, settings, metrics, seed: int = 0) -> None:
        from .engine import Engine

        self.share = settings.canary_share
        self.engine = Engine(replace(settings, bundle=settings.canary, canary=None), metrics)
        self.metrics = metrics
        self.random = random.Random(seed)

    async def start(self, primary) -> None:
        """Load the candidate; refuse one that does not do the primary's task with its labels."""
        await self.engine.start()
        check_candidate(primary.predictor.manifest, self.engine.predictor.manifest)

    def pick(self, primary):
        """(engine, name) for the next request."""
        if self.engine.ready and not self.engine.failed and self.random.random() < self.share:
            return self.engine, "canary"
        return primary, "primary"

    def record(self, name: str, results, started: float) -> None:
        """Count one answered request for ``name``."""
        self.metrics.model_latency.labels(name).observe(time.monotonic() - started)
        self.metrics.model_predictions.labels(name).inc(len(results))
        from ..monitoring.profile import predicted_labels

        for r in results:
            for label in predicted_labels(r):
                self.metrics.model_labels.labels(name, label).inc()
