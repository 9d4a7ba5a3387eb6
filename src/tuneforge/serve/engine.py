"""What the service runs: its settings, and the engine (the loaded bundle, its micro-batcher, readiness).

Example:
    >>> engine = Engine(ServeSettings(bundle="runs/demo/bundle"), metrics)
    >>> await engine.start()          # loads the bundle, answers a warm-up input, starts the batcher
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from .batching import MicroBatcher

SETTINGS_ENV = "TUNEFORGE_SERVE_SETTINGS"


@dataclass
class ServeSettings:
    """What the service needs; the CLI fills it from its options."""

    bundle: str
    backend: str = "torch"
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: list[str] = field(default_factory=list)
    admin_keys: list[str] = field(default_factory=list)
    bundle_root: str | None = None  # reload takes bundles below this folder only; None: reload is off
    cors_origins: list[str] = field(default_factory=list)
    allowed_hosts: list[str] = field(default_factory=list)
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_queue: int = 256
    max_texts: int = 64
    max_text_chars: int = 5000
    max_body_bytes: int = 1_000_000
    max_json_depth: int = 16
    request_timeout_s: float = 10.0
    drain_timeout_s: float = 20.0
    log_texts: bool = False


class Engine:
    """The loaded bundle, its batcher, and whether a warm-up inference succeeded."""

    def __init__(self, settings: ServeSettings, metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.predictor = None
        self.batcher: MicroBatcher | None = None
        self.ready = False
        self.draining = False  # SIGTERM: unready for new traffic, still answering what arrives
        self.failed: str | None = None
        self.lock = asyncio.Lock()
        self.in_flight = 0  # predict requests inside the handler

    def _load(self, path: str):
        from ..predictor import Predictor

        # ONNX Runtime's spinning threads would take the CPU the event loop needs under load.
        predictor = Predictor.load(path, backend=self.settings.backend, onnx_spinning=False)
        predictor.predict(_warm_up(predictor))
        return predictor

    def healthy(self) -> bool:
        """True when the model still answers the warm-up input: after a failed request, this tells
        an input the model cannot take from an engine that broke."""
        try:
            self._predict(_warm_up(self.predictor))
            return True
        except Exception:
            return False

    def _predict(self, examples):
        """One forward pass over ``examples`` (on the batcher's thread)."""
        return self.predictor.predict(examples)

    def _failed(self, exc: BaseException) -> None:
        self.failed = f"{type(exc).__name__}: {exc}"
        self.ready = False

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.predictor is None:  # not handed over already loaded (and checked) by the caller
            self.predictor = await loop.run_in_executor(None, self._load, self.settings.bundle)
        else:
            await loop.run_in_executor(None, self.predictor.predict, _warm_up(self.predictor))
        self.batcher = MicroBatcher(self._predict, max_batch_size=self.settings.max_batch_size,
                                    max_wait_ms=self.settings.max_wait_ms, max_queue=self.settings.max_queue,
                                    on_batch=self.metrics.batch_size.observe, on_error=self._failed,
                                    in_flight=lambda: self.in_flight, healthy=self.healthy)
        await self.batcher.start()
        self.ready = True

    async def reload(self, path: str) -> dict[str, Any]:
        """Load ``path`` and swap it in only once it loaded and answered a warm-up inference."""
        async with self.lock:
            predictor = await asyncio.get_running_loop().run_in_executor(None, self._load, path)
            self.predictor = predictor  # one assignment: requests see the old model or the new one
            self.settings.bundle = path
            self.failed, self.ready = None, True
            return predictor.manifest


def _warm_up(predictor) -> list[dict[str, Any]]:
    pairs = predictor.manifest.data.text_pair_column
    return [{"text": "warm-up", "text_pair": "warm-up"} if pairs else {"text": "warm-up"}]
