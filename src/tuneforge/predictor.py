"""Predict and evaluate with a trained model, from memory or from a bundle on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .bundle import read_manifest
from .errors import BundleError, TuneForgeError
from .methods import METHODS
from .tasks import get_task


def _rebuild_unmerged(root: Path, manifest: dict[str, Any], task):
    """Base model (checked by hash) + the method applied again + the saved trainable parameters."""
    from safetensors.torch import load_file

    from .backbone import backbone_reference, resolve_backbone
    from .bundle import ADAPTER_WEIGHTS
    from .methods import METHODS, load_trainable

    base = manifest["base_model"]
    try:
        base_path = resolve_backbone(base["name"])
    except TuneForgeError as exc:
        raise BundleError(f"{root}: this bundle holds only trained adapters and needs its base model: {exc}") from None
    found = backbone_reference(base["name"], base_path)["weights_sha256"]
    if found != base["weights_sha256"]:
        raise BundleError(
            f"{root}: base model {base['name']!r} on this machine ({base_path}) is not the one this adapter was "
            f"trained on (sha256 {found[:12]}... != {base['weights_sha256'][:12]}...)"
        )
    method = METHODS.get(manifest["method"]["name"])()
    options = method.Options.model_validate(manifest["method"]["options"])
    model = method.build_model(task, base_path, manifest["task"]["label_names"], options)
    model = method.apply(model, options)
    load_trainable(model, load_file(str(root / ADAPTER_WEIGHTS)))
    return model


def _onnx_model(root: Path, manifest: dict[str, Any], variant: str | None, spinning: bool = True):
    """The ONNX Runtime model of the bundle's chosen (or default) export variant."""
    from .export.onnx_runtime import OnnxModel

    section = manifest.get("onnx")
    if not section:
        raise BundleError(f"{root}: this bundle has no ONNX export; run: tuneforge export {root} --data FILE")
    name = variant or section["default"]
    if name not in section["variants"]:
        raise BundleError(f"{root}: no ONNX variant {name!r}; the bundle has {', '.join(section['variants'])}")
    return OnnxModel(root / section["variants"][name]["file"], spinning=spinning)


def _json_file(path: Path) -> dict[str, Any]:
    """A JSON object from a bundle file ({} when absent); a file that does not parse is a BundleError."""
    from .model_files import read_json_object

    return read_json_object(path, BundleError) if path.is_file() else {}


class Predictor:
    """A trained model plus what is needed to turn texts into predictions.

    Example:
        >>> predictor = Predictor.load("runs/demo/bundle")
        >>> predictor.predict_texts(["my parcel never arrived"])[0]["label"]
        'shipping'
    """

    def __init__(self, model, tokenizer, manifest: dict[str, Any]) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.task = get_task(manifest["task"]["type"])
        self.label_names: list[str] = manifest["task"]["label_names"]
        self.max_length: int = manifest["task"]["max_length"]
        self.threshold: float = manifest["task"].get("threshold", 0.5)

    @classmethod
    def load(cls, path: str | Path, backend: str = "torch", variant: str | None = None,
             onnx_spinning: bool = True) -> "Predictor":
        """Load a bundle after checking its manifest and file hashes.

        ``backend="onnx"`` runs the bundle's ONNX export (``tuneforge export``) with ONNX Runtime:
        ``variant`` (``fp32``, ``int8``) or by default the best variant the export accepted.
        ``onnx_spinning=False`` lets ONNX Runtime's idle threads sleep (the server does this).
        """
        from .model_files import guarded, load_tokenizer

        if backend not in ("torch", "onnx"):
            raise TuneForgeError(f"backend must be torch or onnx, not {backend!r}")
        manifest = read_manifest(path)
        model_dir = Path(path) / "model"
        try:
            task = get_task(manifest["task"]["type"])
            method = METHODS.get(manifest["method"]["name"])()
            label_names = manifest["task"]["label_names"]
        except (KeyError, TypeError):
            raise BundleError(f"{path}: the manifest lacks its task or method section") from None
        except TuneForgeError as exc:
            raise BundleError(f"{path}: {exc}") from None
        if method.uses_trainer and manifest["method"].get("merged", True):
            problem = method.model_config_problem(task, _json_file(model_dir / "config.json"), label_names)
            if problem:
                raise BundleError(f"{path}: the manifest disagrees with the model it holds: {problem}")
        tokenizer = load_tokenizer(model_dir, BundleError)

        def build():
            if backend == "onnx":
                return _onnx_model(Path(path), manifest, variant, spinning=onnx_spinning)
            if not method.uses_trainer:
                return method.load_model(model_dir)
            if manifest["method"].get("merged", True):
                options = method.Options.model_validate(manifest["method"]["options"])
                return method.load_trained(task, str(model_dir), options)
            return _rebuild_unmerged(Path(path), manifest, task)

        model = guarded(build, path, "model in this bundle", BundleError)
        model.eval()
        return cls(model, tokenizer, manifest)

    def predict(self, examples: list[dict[str, Any]], batch_size: int = 64) -> list[dict[str, Any]]:
        """One prediction dict per example (``text``/``text_pair`` or ``tokens``)."""
        return self.task.predict(
            self.model, self.tokenizer, examples, self.label_names,
            max_length=self.max_length, threshold=self.threshold, batch_size=batch_size,
        )

    def predict_texts(self, texts: list[str], pairs: list[str] | None = None) -> list[dict[str, Any]]:
        """Predict raw texts (and optional second texts of a pair)."""
        pairs = pairs or [None] * len(texts)
        return self.predict([{"text": t, "text_pair": p} for t, p in zip(texts, pairs)])

    def evaluate(self, examples: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Metrics of this model on labelled examples, plus the predictions."""
        predictions = self.predict(examples)
        metrics = self.task.score(examples, predictions, self.label_names, self.manifest.get("train_stats", {}))
        return metrics, predictions
