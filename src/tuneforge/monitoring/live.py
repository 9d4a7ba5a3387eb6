"""The server's live monitor: predicted-label counts and a confidence histogram for every prediction,
and drift scores over a sliding window of recent traffic against the bundle's reference profile
(``profile.py``), each with the threshold the alert rules compare it with.

Scores (``tuneforge_drift_score{signal=...}``): ``labels`` (PSI of predicted labels against the
model's predicted labels on validation), ``confidence`` (PSI of the top score against validation), ``length`` (PSI of text
length in words against training), ``embedding`` (MMD of the window's sentence sketches against the
training sample). They are computed when ``/metrics`` is scraped, once the window holds at least
``min_window`` predictions; until then they are not exported.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from .profile import predicted_labels, top_score, window_scores

PSI_THRESHOLD = 0.25


class LiveMonitor:
    """Counts, histograms and drift gauges for the predictions a server returns."""

    def __init__(self, registry, label_names: list[str], profile: dict[str, Any] | None = None, sketch=None,
                 window: int = 500, min_window: int = 200) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.min_window = min(min_window, window)
        self.recent: deque = deque(maxlen=window)
        self.lock = threading.Lock()
        self.labels = Counter("tuneforge_predicted_label_total", "predictions by label", ["label"], registry=registry)
        self.confidence = Histogram("tuneforge_prediction_confidence", "top score of each prediction",
                                    registry=registry, buckets=[i / 10 for i in range(1, 11)])
        self.score = Gauge("tuneforge_drift_score", "drift of recent traffic from the training profile", ["signal"],
                           registry=registry)
        self.threshold = Gauge("tuneforge_drift_threshold", "the drift score above which the alert fires",
                               ["signal"], registry=registry)
        self.window_size = Gauge("tuneforge_drift_window", "predictions in the drift window", registry=registry)
        self.switch(label_names, profile, sketch)

    def switch(self, label_names: list[str], profile: dict[str, Any] | None, sketch=None) -> None:
        """Compare with another bundle's profile from now on (after a reload); the window starts empty."""
        with self.lock:
            self.recent.clear()
        self.profile, self.sketch, self.label_names = profile, sketch, label_names
        self.score.clear()
        self.threshold.clear()
        if profile:
            for signal in ("labels", "confidence", "length"):
                self.threshold.labels(signal).set(PSI_THRESHOLD)
            self.threshold.labels("embedding").set(profile["mmd_threshold"])

    def observe(self, examples: list[dict[str, Any]], predictions: list[dict[str, Any]]) -> None:
        """Count a response's predictions and add them to the window (cheap: no embedding here)."""
        rows = []
        for example, prediction in zip(examples, predictions):
            chosen = predicted_labels(prediction)
            for label in chosen:
                self.labels.labels(label).inc()
            confidence = top_score(prediction)
            self.confidence.observe(confidence)
            rows.append((chosen, confidence, example.get("text") or ""))
        with self.lock:
            self.recent.extend(rows)

    def update(self) -> dict[str, float]:
        """Recompute the drift scores over the window (at a scrape); returns them."""
        with self.lock:
            rows = list(self.recent)
        self.window_size.set(len(rows))
        if not self.profile or len(rows) < self.min_window:
            return {}
        labels, confidences, texts = zip(*rows)
        window = self.profile.get("window", 200)
        sketches = self.sketch(list(texts[-window:])) if self.sketch is not None else None
        scores = window_scores(self.profile, self.label_names, labels, confidences, texts, sketches)
        for signal, value in scores.items():
            self.score.labels(signal).set(value)
        return scores
