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
from .passing_thread import in_passing_thread

SETTINGS_ENV = "TUNEFORGE_SERVE_SETTINGS"


@dataclass
class ServeSettings:
    """What the service needs; the CLI fills it from its options."""

    bundle: str
    backend: str = "torch"
    precision: str = "auto"  # torch backend: bf16 where the CPU has it and the bundle passed its gate
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: list[str] = field(default_factory=list)
    admin_keys: list[str] = field(default_factory=list)
    bundle_root: str | None = None  # reload takes bundles below this folder only; None: reload is off
    registry: str | None = None  # a model registry folder: reload also takes registry://NAME@STAGE|VERSION
    mlflow: str | None = None  # or MLflow's model registry at this tracking URI
    capture: str | None = None  # a folder: served inputs and outputs go to capture.sqlite3 there (masked)
    capture_rate: float = 1.0
    capture_max_rows: int = 1_000_000
    capture_max_days: float = 30.0
    drift_window: int = 500  # recent predictions the drift gauges cover
    canary: str | None = None  # a candidate bundle that answers a share of /v1/predict
    canary_share: float = 0.1
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
    max_new_tokens: int = 256  # generation: the most tokens one answer may take (max_tokens above it: 422)
    max_prompt_tokens: int | None = None  # generation: longest prompt in tokens (None: the bundle's max_length)
    generation_batch: int = 16  # generation: requests decoded together
    generation_wait_ms: float = 20.0
    generation_timeout_s: float = 120.0
    drain_timeout_s: float = 20.0
    log_texts: bool = False
    max_explain_texts: int = 4  # /v1/explain: texts per request (more: 422)
    max_explain_steps: int = 100  # /v1/explain: integration steps (more: 422)
    explain_timeout_s: float = 30.0


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
        self.generator = None  # generation bundles: the GenerationBatcher of the OpenAI routes

    def _load(self, path: str):
        from ..predictor import Predictor

        # ONNX Runtime's spinning threads would take the CPU the event loop needs under load.
        predictor = Predictor.load(path, backend=self.settings.backend, onnx_spinning=False,
                                   precision=self.settings.precision)
        _answer_warm_up(predictor)
        return predictor

    def healthy(self) -> bool:
        """True when the model still answers the warm-up input: after a failed request, this tells
        an input the model cannot take from an engine that broke."""
        try:
            if self.predictor.task.generates_text:
                _answer_warm_up(self.predictor)
            else:
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
        # loading and warm-up on a thread that ends: predictions then compute on the batcher's thread
        # alone (see ``passing_thread``)
        if self.predictor is None:  # not handed over already loaded (and checked) by the caller
            self.predictor = await loop.run_in_executor(None, in_passing_thread, self._load, self.settings.bundle)
        else:
            await loop.run_in_executor(None, in_passing_thread, _answer_warm_up, self.predictor)
        self._start_generator()
        self.batcher = MicroBatcher(self._predict, max_batch_size=self.settings.max_batch_size,
                                    max_wait_ms=self.settings.max_wait_ms, max_queue=self.settings.max_queue,
                                    on_batch=self.metrics.batch_size.observe, on_error=self._failed,
                                    in_flight=lambda: self.in_flight, healthy=self.healthy)
        await self.batcher.start()
        self.ready = True

    async def reload(self, path: str) -> dict[str, Any]:
        """Load ``path`` and swap it in only once it loaded and answered a warm-up inference."""
        async with self.lock:
            predictor = await asyncio.get_running_loop().run_in_executor(None, in_passing_thread, self._load, path)
            self.predictor = predictor  # one assignment: requests see the old model or the new one
            self._start_generator()
            self.settings.bundle = path
            self.failed, self.ready = None, True
            return predictor.manifest


    def _start_generator(self) -> None:
        """Generation bundles: a fresh generation queue bound to the current model (the old one ends)."""
        from .generation_batcher import GenerationBatcher

        if self.generator is not None:
            self.generator.stop()
            self.generator = None
        predictor = self.predictor
        if predictor is None or not predictor.task.generates_text:
            return
        from ..generation.stepwise import decode_batch

        self.generator = GenerationBatcher(lambda rows: decode_batch(predictor.model, predictor.tokenizer, rows),
                                           max_batch=self.settings.generation_batch,
                                           max_wait_ms=self.settings.generation_wait_ms, max_queue=self.settings.max_queue,
                                           on_batch=self.metrics.batch_size.observe,
                                           on_cancelled=self.metrics.generation_cancelled.inc)
        self.generator.start()

    def max_prompt_tokens(self) -> int:
        """The longest prompt a generation request may have."""
        return self.settings.max_prompt_tokens or self.predictor.max_length

    def model_id(self) -> str:
        """The served model's name in OpenAI-style answers: the bundle's run folder name."""
        from pathlib import Path

        bundle = Path(self.settings.bundle)
        return bundle.parent.name if bundle.name == "bundle" else bundle.name


def _warm_up(predictor) -> list[dict[str, Any]]:
    return predictor.task.warm_up_examples(bool(predictor.manifest.data.text_pair_column))


def _answer_warm_up(predictor) -> None:
    """One inference through the model before it takes traffic (one token for a generation bundle)."""
    if predictor.task.generates_text:
        from ..generation.chat_format import prompt_ids
        from ..generation.decoding import DecodingOptions
        from ..generation.stepwise import Row, decode_batch

        ids = prompt_ids(predictor.tokenizer, [{"role": "user", "content": "warm-up"}])
        decode_batch(predictor.model, predictor.tokenizer, [Row(ids, DecodingOptions(max_new_tokens=1))])
        return
    predictor.predict(_warm_up(predictor))
