"""What the server watches after deployment: the live monitor (label counts, confidence histogram,
drift gauges) for every text classifier, and traffic capture when ``--capture DIR`` is given."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger("tuneforge")


class Watch:
    """The monitor and the capture of one server; ``use`` switches them to a newly loaded bundle."""

    def __init__(self, settings, registry) -> None:
        self.settings, self.registry = settings, registry
        self.monitor = None
        self.capture = None
        if settings.capture:
            from ..monitoring.capture import Capture

            self.capture = Capture(settings.capture, registry, rate=settings.capture_rate,
                                   max_rows=settings.capture_max_rows, max_days=settings.capture_max_days)

    def use(self, predictor, bundle: str) -> None:
        """Monitor ``predictor`` (loaded from ``bundle``) against its reference profile, if it has one."""
        from ..monitoring.live import LiveMonitor
        from ..monitoring.profile import PROFILE_FILE

        if predictor is None or predictor.task.logit_kind not in ("softmax", "sigmoid"):
            return
        profile_path = Path(bundle) / PROFILE_FILE
        profile = json.loads(profile_path.read_text(encoding="utf-8")) if profile_path.is_file() else None
        sketch = _sketch(predictor, bundle) if profile else None
        if self.monitor is None:
            self.monitor = LiveMonitor(self.registry, predictor.label_names, profile, sketch,
                                       window=self.settings.drift_window)
        else:
            self.monitor.switch(predictor.label_names, profile, sketch)
        if profile is None:
            log.info("monitor: %s has no reference profile (trained before profiles); no drift gauges", bundle)

    def observe(self, examples: list[dict[str, Any]], predictions: list[dict[str, Any]], model: str) -> None:
        """Count, window and (sampled) capture one response's predictions; never waits."""
        if self.monitor is not None:
            self.monitor.observe(examples, predictions)
        if self.capture is not None:
            self.capture.offer(examples, predictions, model)

    def update(self) -> None:
        """Recompute the drift gauges (before a scrape)."""
        if self.monitor is not None:
            self.monitor.update()

    def close(self) -> None:
        """Flush the capture queue."""
        if self.capture is not None:
            self.capture.close()


def _sketch(predictor, bundle: str):
    """Sentence sketches from the bundle's input embeddings (the safetensors file, any backend), else the
    loaded torch model's."""
    from ..bundled import MODEL_DIR
    from ..data.augment import _input_embeddings
    from ..errors import TuneForgeError
    from ..monitoring.profile import SentenceSketch

    try:
        matrix = _input_embeddings(str(Path(bundle) / MODEL_DIR))
    except TuneForgeError:
        model = getattr(predictor, "model", None)
        if not hasattr(model, "get_input_embeddings"):
            return None
        matrix = model.get_input_embeddings().weight.detach().float().numpy()
    return SentenceSketch(predictor.tokenizer, matrix)
