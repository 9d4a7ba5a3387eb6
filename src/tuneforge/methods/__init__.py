"""Adaptation methods: each decides which parameters train, registered in its own module.

Every method follows one contract, checked by one parametrized test over the registry:

- ``Options``: a pydantic model, the ``method:`` config section (``name`` plus the method's options);
- ``apply(model, options, task)``: returns the model with exactly the intended parameters trainable
  (raises ``ConfigError`` for options that do not fit the backbone); ``task`` is None when the model
  is not the task's own (prompt-based fine-tuning hands its masked-LM model to another method);
- ``build_model`` / ``load_trained``: the model the method trains (a ``BuiltModel``: the model plus
  the parameters the checkpoint lacked) and its reload from a bundle (the task's own model by
  default; prompt-based fine-tuning wraps the masked-LM model);
- ``model_kind(options, merged)``: which kind of bundled model (``tuneforge.bundled``) it saves;
- ``load_tokenizer(options, model_path)``: the tokenizer its model reads with (the backbone's by default);
- ``callbacks(options)``: Trainer callbacks the method needs (most need none);
- ``can_merge`` and ``merge(model)``: fold the trained weights into a plain transformers model;
- methods with a recipe of their own (zero-shot, contrastive few-shot) set ``uses_trainer = False``
  and implement ``fit`` (build and train the whole model) and ``model_kind`` (how its bundles hold it);
- what is saved for an unmerged bundle is the trainable parameters plus the new ones only
  (``trainable_state``); reloading is ``apply`` on the same base, then ``load_trainable``;
- what the rest of TuneForge asks of it, declared here and nowhere else: ``check_task`` (the tasks
  and configs it supports), ``can_export`` (ONNX), ``default_learning_rate`` and ``search_space``
  (``tune``'s default space, ``compare``'s learning rate), ``prompt_adaptable`` (usable as
  ``prompt``'s ``adapt``), ``compared_by_default`` and ``compare_options`` (``tuneforge compare``),
  ``starter_choice`` (why ``tuneforge init`` would pick it for a task and data size).

A new method is one module that registers itself with ``@METHODS.register(name)``; nothing else
names it.
"""

from __future__ import annotations

from typing import Sequence

from ..registry import Registry
from ..schema import ParamSpec, StrictModel
from ..tasks.base import BuiltModel


class MethodOptions(StrictModel):
    """Options shared by every method; subclasses add their own."""

    name: str = "full"
    merge: bool = True


class Method:
    """Base class for adaptation methods."""

    Options: type[MethodOptions] = MethodOptions
    can_merge: bool = True
    uses_trainer: bool = True
    trains_weights: bool = True  # False: the model is built, not trained (zero-shot, in-context)
    default_learning_rate: float | None = None  # what compare (and the benchmarks) train it with
    search_space: dict[str, ParamSpec] = {}  # dotted config keys tune searches besides the training options
    prompt_adaptable: bool = False  # prompt-based fine-tuning may hand "what trains" to it (method.adapt)
    compared_by_default: bool = False  # in `tuneforge compare` when no --methods are given
    model_families: tuple[str, ...] = ("transformers",)  # the kinds of task model it can train (Task.model_family)

    def starter_choice(self, task, n_train: int, data: dict) -> tuple[str, dict, float | None] | None:
        """Whether a starter config (``tuneforge init``) should use this method for ``task`` with ``n_train``
        training examples and these ``data:`` settings: why, the method options and the learning rate it
        would set (None: ``default_learning_rate``); None when it is not the pick."""
        return None

    def check_task(self, task, cfg) -> None:
        """Raise ``ConfigError`` when this method cannot train ``task`` as ``cfg`` sets it up."""

    def can_export(self, options: MethodOptions) -> bool:
        """Whether its bundles export to ONNX (a method that builds inputs in Python per row cannot)."""
        return True

    def compare_options(self, share_seconds: float) -> dict:
        """Option values for a ``compare`` run given its share of the time budget (most need none)."""
        return {}

    def build_model(self, task, model_path: str, label_names: list[str], options: MethodOptions) -> BuiltModel:
        """The model this method trains; the task's model with a fresh head unless the method needs another."""
        return task.build_model(model_path, label_names)

    def model_kind(self, options: MethodOptions, merged: bool) -> str:
        """The kind of model its bundles hold (``tuneforge.bundled.MODEL_KINDS``)."""
        return "transformers" if merged else "trained_parameters"

    def load_tokenizer(self, options: MethodOptions, model_path: str):
        """The tokenizer its model reads with: the backbone's, unless the method brings another model."""
        from ..model_files import load_tokenizer

        return load_tokenizer(model_path)

    def load_trained(self, task, model_dir: str, options: MethodOptions):
        """Reload a merged model that this method trained from a bundle's ``model/`` folder."""
        return task.load_trained(model_dir)

    def apply(self, model, options: MethodOptions, task):
        """Prepare ``model`` for training under this method and return it (``task``: whose model it
        is, or None for a model that is not a task's own, such as prompt-based fine-tuning's masked LM)."""
        raise NotImplementedError

    def model_config_problem(self, task, config: dict, label_names: list[str]) -> str | None:
        """Why a merged bundle's ``config.json`` disagrees with the manifest (the task's check by default)."""
        return task.model_config_problem(config, label_names)

    def callbacks(self, options: MethodOptions) -> list:
        """Trainer callbacks this method needs during training."""
        return []

    def merge(self, model):
        """Return a plain transformers model with the trained weights folded in."""
        return model

    def fit(self, model_path: str, tokenizer, splits, cfg, max_length: int):
        """(``uses_trainer = False`` only) build and train the model; return (model, facts for the report).
        ``tokenizer`` is ``load_tokenizer``'s; ``model_kind`` names the kind that saves and reloads the model."""
        raise NotImplementedError


METHODS: Registry[type[Method]] = Registry("method")
DEFAULT_METHOD = "full"  # what a config without method.name trains; also how a compressed plain model is recorded


def check_model_family(method_name: str, task) -> None:
    """Refuse a task whose kind of model (``Task.model_family``) the method cannot train, naming those that can."""
    from ..errors import ConfigError

    if task.model_family not in METHODS.get(method_name).model_families:
        able = [n for n in METHODS.names() if task.model_family in METHODS.get(n).model_families]
        raise ConfigError(f"method {method_name} cannot train task {task.name}'s {task.model_family} models yet; "
                          f"methods that can: {', '.join(able)}")


def single_label_only(method_name: str, task, cfg, pairs: bool = False) -> None:
    """Refuse a task that does not give each text exactly one of a set of labels (or text pairs,
    unless ``pairs``): the shared ``check_task`` of the few-shot methods."""
    from ..errors import ConfigError

    if not task.single_label or (cfg.data.text_pair_column and not pairs):
        raise ConfigError(f"method {method_name} needs single-{'' if pairs else 'text '}classification into one "
                          f"label per text; task {task.name}{' with text pairs' if cfg.data.text_pair_column else ''} "
                          "is not")


def count_parameters(model) -> tuple[int, int]:
    """Return (trainable, total) parameter counts of a torch module."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def new_parameter_names(model, new: Sequence[str]) -> set[str]:
    """Names of ``model``'s parameters among ``new`` (what the base checkpoint lacked, e.g. the head or
    a randomly initialised pooler: ``BuiltModel.new_parameters``), as named inside any wrapper."""
    new = tuple(new)
    names = set()
    for name, _ in model.named_parameters():
        plain = name.replace(".base_layer.", ".")  # peft wraps targeted layers: x.dense.base_layer.weight
        if any(plain == k or plain.endswith("." + k) for k in new):
            names.add(name)
    return names


def trainable_state(model, new_parameters: Sequence[str] = ()) -> dict:
    """What an unmerged bundle stores: the trainable parameters, plus the new ones
    (``new_parameter_names``), which a model rebuilt from the base could not reproduce."""
    new = new_parameter_names(model, new_parameters)
    return {
        name: p.detach().contiguous().cpu() for name, p in model.named_parameters() if p.requires_grad or name in new
    }


def load_trainable(model, state: dict) -> None:
    """Load saved trainable parameters into a freshly applied model; every key must land."""
    from ..errors import BundleError

    params = dict(model.named_parameters())
    unknown = sorted(set(state) - set(params))
    if unknown:
        raise BundleError(f"saved parameters do not fit the model: {', '.join(unknown[:5])}")
    for name, tensor in state.items():
        if params[name].shape != tensor.shape:
            raise BundleError(f"saved parameter {name} has shape {tuple(tensor.shape)}, model has {tuple(params[name].shape)}")
        params[name].data.copy_(tensor)


def head_parameter_names(model) -> set[str]:
    """Names of the task head's parameters: those outside the backbone (e.g. ``classifier.*``), plus
    the pooler of a sequence classifier, which only the classification head uses (BERT's pooler
    reads [CLS]; a sentence-embedding backbone such as all-MiniLM-L6-v2 never trained it for that)."""
    prefix = getattr(model, "base_model_prefix", "")
    if not prefix or not hasattr(model, prefix):
        from ..errors import ConfigError

        raise ConfigError(f"cannot tell the task head from the backbone in {type(model).__name__}")
    pools = type(model).__name__.endswith("ForSequenceClassification")
    return {
        name for name, _ in model.named_parameters()
        if not name.startswith(prefix + ".") or (pools and name.startswith(f"{prefix}.pooler."))
    }


def set_trainable(model, predicate) -> None:
    """Freeze every parameter except those whose name satisfies ``predicate``."""
    for name, param in model.named_parameters():
        param.requires_grad_(bool(predicate(name)))




def _import_all() -> None:
    """Import every module of this package: each method registers itself where it is defined."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_import_all()
