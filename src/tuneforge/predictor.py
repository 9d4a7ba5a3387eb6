"""Predict and evaluate with a trained model, from memory or from a bundle on disk."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from .bundle import Manifest, read_manifest
from .errors import BundleError, TuneForgeError
from .precision import Precision, autocast
from .tasks import get_task

log = logging.getLogger("tuneforge")


class Predictor:
    """A trained model plus what is needed to turn texts into predictions.

    Example:
        >>> predictor = Predictor.load("runs/demo/bundle")
        >>> predictor.predict_texts(["my parcel never arrived"])[0]["label"]
        'shipping'
    """

    def __init__(self, model, tokenizer, manifest: Manifest, precision: Precision | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.task = get_task(manifest.task.type).options_from(manifest.task.model_dump())
        self.label_names: list[str] = manifest.task.label_names
        self.max_length: int = manifest.task.max_length
        self.threshold: float = manifest.task.threshold
        # what a torch model computes in (bf16 autocast or fp32); see ``tuneforge.inference_precision``
        self.precision: Precision = precision or Precision("fp32", "fp32")
        self.backend = "torch"  # what ``load`` ran the model on: torch, or onnx:<variant>
        self._bf16_twin: tuple[Any, Any] | None = None  # (model, its copy with bf16 weights)

    @classmethod
    def load(cls, path: str | Path, backend: str = "torch", variant: str | None = None,
             onnx_spinning: bool = True, precision: str = "auto") -> "Predictor":
        """Load a bundle after checking its manifest and file hashes.

        The model is loaded by the kind of model the bundle holds (``tuneforge.bundled``).
        ``backend="onnx"`` runs the bundle's ONNX export (``tuneforge export``) with ONNX Runtime:
        ``variant`` (``fp32``, ``int8``) or by default the best variant the export accepted.
        ``backend="auto"`` measures torch and every accepted export variant on this CPU and loads the
        fastest (``tuneforge.export.backend_choice``; cached). ``onnx_spinning=False`` lets ONNX Runtime's
        idle threads sleep (the server does this).
        ``precision`` (torch backend): ``auto`` computes under bf16 autocast when the CPU has native bf16
        and the bundle passed its bf16 parity gate, fp32 otherwise; ``fp32`` or ``bf16`` force it.
        """
        from .bundled import MODEL_DIR, load_bundled
        from .model_files import guarded

        manifest = read_manifest(path)
        try:
            get_task(manifest.task.type)
        except TuneForgeError as exc:
            raise BundleError(f"{path}: {exc}") from None
        if backend == "auto":
            from .export.backend_choice import choose_backend

            def load_one(b: str, v: str | None) -> "Predictor":  # torch's "variant" is its precision
                return cls.load(path, b, None if b == "torch" else v, onnx_spinning, v if b == "torch" and v else precision)

            choice = choose_backend(path, manifest, load_one)
            timings = ", ".join(f"{name} {t['batch1_ms']:.1f}/{t['batch32_ms']:.0f} ms"
                                for name, t in choice["timings"].items())
            if choice.get("small"):
                predictor = cls._routed(load_one, choice)
            else:
                predictor = load_one(choice["backend"], choice["variant"])
            log.info("backend auto: %s%s", predictor.describe_backend(),
                     f"; batch 1 / batch 32: {timings}" if timings else "")
            return predictor
        tokenizer = get_task(manifest.task.type).load_inputs_processor(Path(path) / MODEL_DIR, BundleError)
        model = guarded(lambda: load_bundled(Path(path), manifest, backend, variant, onnx_spinning), path,
                        "model in this bundle", BundleError)
        model.eval()
        chosen = None
        if backend == "torch":
            from .inference_precision import inference_precision

            chosen = inference_precision(manifest, precision)
            if chosen.bf16:
                log.debug("inference precision: bf16 (%s)", chosen.reason)
        predictor = cls(model, tokenizer, manifest, chosen)
        predictor.backend = backend if backend == "torch" else f"{backend}:{variant or manifest.onnx['default']}"
        return predictor

    @classmethod
    def _routed(cls, load_one, choice: dict[str, Any]) -> "Predictor":
        """One predictor over two runtimes: ``choice["small"]`` for small batches, the other for the rest."""
        from .export.size_router import SizeRouter

        small_choice = choice["small"]
        small = load_one(small_choice["backend"], small_choice["variant"])
        large = load_one(choice["backend"], choice["variant"])
        rows = small_choice["small_rows"]
        predictor = cls(SizeRouter(small.runnable(), large.runnable(), rows), large.tokenizer, large.manifest)
        predictor.backend = f"{small.describe_backend()} for batches up to {rows}, {large.describe_backend()} above"
        return predictor

    def describe_backend(self) -> str:
        """What the model runs on, e.g. ``torch (bf16)`` or ``onnx:int8``."""
        return f"torch ({self.precision.name})" if self.backend == "torch" else self.backend

    def runnable(self):
        """The model as ``predict`` runs it, callable without this predictor's precision context."""
        if not self.precision.bf16:
            return self.model
        from .inference_precision import Autocast

        return Autocast(self.computing_model())

    def predict(self, examples: list[dict[str, Any]], batch_size: int = 64) -> list[dict[str, Any]]:
        """One prediction dict per example (``text``/``text_pair`` or ``tokens``)."""
        with autocast(self.precision):
            return self.task.predict(
                self.computing_model(), self.tokenizer, examples, self.label_names,
                max_length=self.max_length, threshold=self.threshold, batch_size=batch_size,
            )

    def computing_model(self):
        """The model ``predict`` runs: ``self.model``, or under bf16 autocast its twin with bf16 weights
        (``inference_precision.with_bf16_weights``: same numbers, no per-call weight cast), made once."""
        if not self.precision.bf16:
            return self.model
        from .inference_precision import with_bf16_weights

        if self._bf16_twin is None or self._bf16_twin[0] is not self.model:  # made once per model
            self._bf16_twin = (self.model, with_bf16_weights(self.model))
        return self._bf16_twin[1]

    def predict_texts(self, texts: list[str], pairs: list[str] | None = None) -> list[dict[str, Any]]:
        """Predict raw texts (and optional second texts of a pair)."""
        pairs = pairs or [None] * len(texts)
        return self.predict([{"text": t, "text_pair": p} for t, p in zip(texts, pairs)])

    def evaluate(self, examples: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Metrics of this model on labelled examples, plus the predictions."""
        predictions = self.predict(examples)
        metrics = self.task.score(examples, predictions, self.label_names, self.manifest.train_stats)
        return metrics, predictions
