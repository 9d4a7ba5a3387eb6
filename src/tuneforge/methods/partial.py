"""Partial fine-tuning: train the top encoder layers, only the head, or only the biases.

These change which existing weights train, so the result is always a plain transformers model.
"""

from __future__ import annotations

import re

from pydantic import Field

from ..errors import ConfigError
from ..schema import ParamSpec
from . import METHODS, Method, MethodOptions, head_parameter_names, set_trainable

_LAYER = re.compile(r"\.(?:layer|layers|h|block|_blocks)\.(\d+)\.")  # _blocks: EfficientNet's


def encoder_layer_count(model) -> int:
    """Number of numbered blocks in the backbone (transformer layers, or a CNN's blocks)."""
    indices = {int(m.group(1)) for name, _ in model.named_parameters() if (m := _LAYER.search(name))}
    if not indices:
        raise ConfigError(f"cannot find numbered encoder layers in {type(model).__name__}")
    return max(indices) + 1


class FreezeOptions(MethodOptions):
    """Which layers train: the top ``train_layers``, or an explicit ``layers`` list."""

    name: str = "freeze"
    train_layers: int | None = Field(2, ge=0)
    layers: list[int] | None = None
    freeze_embeddings: bool = True


@METHODS.register("freeze")
class Freeze(Method):
    """Train the top k encoder layers (or listed layers) and the head; freeze the rest.

    Example:
        >>> Freeze().apply(model, FreezeOptions(train_layers=2), task)
    """

    Options = FreezeOptions
    default_learning_rate = 3e-4
    search_space = {"method.train_layers": ParamSpec(low=1, high=6, integer=True)}
    prompt_adaptable = True
    compared_by_default = True

    model_families = ("transformers", "vision")

    def apply(self, model, options: FreezeOptions, task):
        """Freeze all but the chosen layers, the pooler and the head (and embeddings if asked)."""
        n_layers = encoder_layer_count(model)
        if options.layers is not None:
            bad = [i for i in options.layers if not 0 <= i < n_layers]
            if bad:
                raise ConfigError(f"method.layers {bad} out of range: the backbone has layers 0..{n_layers - 1}")
            chosen = set(options.layers)
        else:
            k = options.train_layers or 0
            if k > n_layers:
                raise ConfigError(f"method.train_layers={k} but the backbone has only {n_layers} layers")
            chosen = set(range(n_layers - k, n_layers))
        head = head_parameter_names(model)

        def trains(name: str) -> bool:
            if name in head or ".pooler." in name:
                return True
            if "embeddings" in name:
                return not options.freeze_embeddings
            match = _LAYER.search(name)
            return bool(match) and int(match.group(1)) in chosen

        set_trainable(model, trains)
        return model


class LinearProbeOptions(MethodOptions):
    """Only the task head trains."""

    name: str = "linear_probe"


@METHODS.register("linear_probe")
class LinearProbe(Method):
    """Freeze the whole backbone; train the task head only."""

    Options = LinearProbeOptions
    default_learning_rate = 3e-3
    prompt_adaptable = True

    model_families = ("transformers", "vision")

    def apply(self, model, options: LinearProbeOptions, task):
        """Leave only head parameters trainable."""
        head = head_parameter_names(model)
        set_trainable(model, lambda name: name in head)
        return model


class BitFitOptions(MethodOptions):
    """Bias terms (and the head) train."""

    name: str = "bitfit"


@METHODS.register("bitfit")
class BitFit(Method):
    """BitFit (Ben Zaken et al. 2022): train only bias terms, plus the task head."""

    Options = BitFitOptions
    default_learning_rate = 5e-3
    prompt_adaptable = True
    compared_by_default = True

    model_families = ("transformers", "vision")

    def apply(self, model, options: BitFitOptions, task):
        """Leave bias terms and head parameters trainable."""
        head = head_parameter_names(model)
        if not any(name.endswith(".bias") and name not in head for name, _ in model.named_parameters()):
            raise ConfigError(f"bitfit needs bias terms, and {type(model).__name__} has none outside the head")
        set_trainable(model, lambda name: name in head or name.endswith(".bias"))
        return model
