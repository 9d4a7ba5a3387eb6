"""What a bundle's ``model/`` folder holds: one kind per way of saving a model, each a save/load pair.

Every kind says which backends it runs on and has one ``save(model, root)`` and one ``load(root,
manifest, backend)``; ``Predictor.load`` is one call to ``load_bundled``. The manifest records the
kind (``model.kind``); a method says which kind its models are (``Method.model_kind``).

- ``transformers``: a plain transformers model (``save_pretrained``), reloaded by the method
  (``Method.load_trained``) after its ``config.json`` is checked against the manifest;
- ``trained_parameters``: only what training changed (``adapter/trainable.safetensors``); loading
  rebuilds the base named in the manifest (checked by hash) and applies the method again;
- ``embedding_classifier``, ``nli_classifier``, ``in_context_classifier``: the few-shot models,
  each with its own ``save_pretrained``/``from_pretrained``.

A new kind is a subclass registered with ``@MODEL_KINDS.register(name)`` wherever it is defined.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from .errors import BundleError, TuneForgeError
from .registry import Registry

Manifest = Any  # a ``tuneforge.bundle.Manifest`` (not imported: bundle.py saves and migrates through this module)

MODEL_DIR = "model"
ADAPTER_WEIGHTS = "adapter/trainable.safetensors"
BACKENDS = ("torch", "onnx")


class BundledModel:
    """One kind of model a bundle holds: how it is saved, reloaded, and on which backends it runs."""

    backends: tuple[str, ...] = ("torch",)

    def save(self, model, root: Path, new_parameters: Sequence[str] = ()) -> None:
        """Write ``model`` into the bundle folder ``root`` (``model/`` by ``save_pretrained``, safetensors)."""
        model.save_pretrained(root / MODEL_DIR, safe_serialization=True)

    def load(self, root: Path, manifest: Manifest, backend: str = "torch", variant: str | None = None,
             onnx_spinning: bool = True):
        """The model of the bundle at ``root`` on ``backend`` (``onnx``: the export ``variant`` chosen)."""
        if backend not in self.backends:
            raise BundleError(f"{root}: a {manifest.model.kind} model runs on {', '.join(self.backends)}, "
                              f"not {backend}")
        if backend == "onnx":
            return onnx_model(root, manifest, variant, onnx_spinning)
        return self.load_torch(root, manifest)

    def load_torch(self, root: Path, manifest: Manifest):
        """The torch model the bundle holds."""
        raise NotImplementedError


MODEL_KINDS: Registry[type[BundledModel]] = Registry("bundled model kind")


def _task_and_method(root: Path, manifest: Manifest):
    from .methods import METHODS
    from .tasks import get_task

    try:
        task = get_task(manifest.task.type)
        method = METHODS.get(manifest.method.name)()
        options = method.Options.model_validate(manifest.method.options)
    except (TuneForgeError, ValueError) as exc:
        raise BundleError(f"{root}: {exc}") from None
    return task, method, options


@MODEL_KINDS.register("transformers")
class TransformersModel(BundledModel):
    """A plain transformers model: the merged result of the Trainer path."""

    backends = BACKENDS

    def load_torch(self, root: Path, manifest: Manifest):
        """Check ``config.json`` against the manifest's task and labels, then let the method reload it."""
        from .model_files import read_json_object

        task, method, options = _task_and_method(root, manifest)
        config_path = root / MODEL_DIR / "config.json"
        config = read_json_object(config_path, BundleError) if config_path.is_file() else {}
        problem = method.model_config_problem(task, config, manifest.task.label_names)
        if problem:
            raise BundleError(f"{root}: the manifest disagrees with the model it holds: {problem}")
        return method.load_trained(task, str(root / MODEL_DIR), options)


@MODEL_KINDS.register("trained_parameters")
class TrainedParameters(BundledModel):
    """Only the parameters training changed (plus those the base lacked); the base model is not copied."""

    backends = BACKENDS

    def save(self, model, root: Path, new_parameters: Sequence[str] = ()) -> None:
        """``adapter/trainable.safetensors``: the trainable parameters and ``new_parameters``."""
        from safetensors.torch import save_file

        from .methods import trainable_state

        (root / ADAPTER_WEIGHTS).parent.mkdir(parents=True, exist_ok=True)
        save_file(trainable_state(model, new_parameters), str(root / ADAPTER_WEIGHTS))

    def load_torch(self, root: Path, manifest: Manifest):
        """Base model (checked by hash) + the method applied again + the saved trainable parameters."""
        from safetensors.torch import load_file

        from .backbone import backbone_reference, resolve_backbone
        from .methods import load_trainable

        task, method, options = _task_and_method(root, manifest)
        base = manifest.base_model
        try:
            base_path = resolve_backbone(base.name)
        except TuneForgeError as exc:
            raise BundleError(f"{root}: this bundle holds only trained adapters and needs its base model: {exc}") from None
        found = backbone_reference(base.name, base_path)["weights_sha256"]
        if found != base.weights_sha256:
            raise BundleError(
                f"{root}: base model {base.name!r} on this machine ({base_path}) is not the one this adapter was "
                f"trained on (sha256 {found[:12]}... != {base.weights_sha256[:12]}...)"
            )
        built = method.build_model(task, base_path, manifest.task.label_names, options)
        model = method.apply(built.model, options, task)
        load_trainable(model, load_file(str(root / ADAPTER_WEIGHTS)))
        return model


@MODEL_KINDS.register("embedding_classifier")
class EmbeddingClassifierModel(BundledModel):
    """Sentence encoder + linear head (zero-shot by descriptions, SetFit)."""

    backends = BACKENDS

    def load_torch(self, root: Path, manifest: Manifest):
        from .fewshot.embedding_classifier import EmbeddingClassifier

        return EmbeddingClassifier.from_pretrained(root / MODEL_DIR)


@MODEL_KINDS.register("nli_classifier")
class NliClassifierModel(BundledModel):
    """An NLI cross-encoder scoring one hypothesis per label (pairs are built in Python: torch only)."""

    def load_torch(self, root: Path, manifest: Manifest):
        from .fewshot.nli_zero_shot import NLIZeroShotClassifier

        return NLIZeroShotClassifier.from_pretrained(root / MODEL_DIR)


@MODEL_KINDS.register("in_context_classifier")
class InContextClassifierModel(BundledModel):
    """A causal LM with its demonstrations prompt (assembled in Python: torch only)."""

    def load_torch(self, root: Path, manifest: Manifest):
        from .fewshot.in_context import InContextClassifier

        return InContextClassifier.from_pretrained(root / MODEL_DIR)


def onnx_model(root: Path, manifest: Manifest, variant: str | None, spinning: bool = True):
    """The runtime model (ONNX Runtime, or OpenVINO for its variants) of the bundle's chosen (or default)
    export variant."""
    from .export.onnx_runtime import OnnxModel

    section = manifest.onnx
    if not section:
        raise BundleError(f"{root}: this bundle has no ONNX export; run: tuneforge export {root} --data FILE")
    name = variant or section["default"]
    if name not in section["variants"]:
        raise BundleError(f"{root}: no ONNX variant {name!r}; the bundle has {', '.join(section['variants'])}")
    row = section["variants"][name]
    if row.get("runtime") == "openvino":
        from .export.openvino_runtime import OpenVinoModel

        precision = row.get("precision", "f32")
        if precision not in ("f32", "bf16"):
            raise BundleError(f"{root}: variant {name!r} has an unknown precision {precision!r}")
        return OpenVinoModel(root / row["file"], precision=precision)
    return OnnxModel(root / row["file"], spinning=spinning)


def kind_for(method_name: Any, options: dict[str, Any], merged: bool) -> str:
    """The kind of model a method's bundle holds (what ``migrate`` gives a bundle written before kinds)."""
    from .methods import METHODS

    if not isinstance(method_name, str) or method_name not in METHODS:
        raise BundleError(f"unknown method {method_name!r} in the manifest")
    method = METHODS.get(method_name)()
    try:
        parsed = method.Options.model_validate(options)
    except ValueError as exc:
        raise BundleError(f"method options in the manifest: {exc}") from None
    return method.model_kind(parsed, merged)


def load_bundled(root: Path, manifest: Manifest, backend: str = "torch", variant: str | None = None,
                 onnx_spinning: bool = True):
    """The model of a (verified) bundle, loaded by its kind on ``backend``."""
    if backend not in BACKENDS:
        raise TuneForgeError(f"backend must be {', '.join(BACKENDS)} or auto, not {backend!r}")
    kind = MODEL_KINDS.get(manifest.model.kind)()
    return kind.load(root, manifest, backend, variant, onnx_spinning)
