"""Houlsby bottleneck adapters (Houlsby et al. 2019); peft has none, so it is written here.

A small bottleneck (down-projection, non-linearity, up-projection, residual) runs after the
attention output projection and after the feed-forward output projection of every layer,
before dropout, the residual connection and LayerNorm. The up-projection starts at zero, so
training starts from the pretrained function. Adapters, LayerNorms and the head train.
"""

from __future__ import annotations

import re

import torch
from pydantic import Field
from torch import nn

from ..errors import ConfigError
from ..schema import ParamSpec
from . import METHODS, Method, MethodOptions, head_parameter_names, set_trainable

# Output projections of attention and feed-forward blocks, per architecture family.
DEFAULT_TARGETS = {
    "bert": [r"attention\.output\.dense$", r"layer\.\d+\.output\.dense$"],
    "roberta": [r"attention\.output\.dense$", r"layer\.\d+\.output\.dense$"],
    "gpt2": [r"attn\.c_proj$", r"mlp\.c_proj$"],
    "llama": [r"self_attn\.o_proj$", r"mlp\.down_proj$"],
}


class Bottleneck(nn.Module):
    """``h + up(gelu(down(h)))`` with ``up`` initialised to zero (identity at start)."""

    def __init__(self, width: int, bottleneck: int) -> None:
        super().__init__()
        self.down = nn.Linear(width, bottleneck)
        self.up = nn.Linear(bottleneck, width)
        nn.init.normal_(self.down.weight, std=1e-2)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:  # (..., width) -> (..., width)
        return hidden + self.up(nn.functional.gelu(self.down(hidden)))


def _add_adapter(module: nn.Module, inputs, output):
    """Forward hook: pass the projection's output through its adapter."""
    return module.adapter(output)


class AdapterOptions(MethodOptions):
    """Bottleneck size and (optionally) which output projections get an adapter (regexes)."""

    name: str = "adapter"
    merge: bool = False
    bottleneck: int = Field(64, ge=1)
    target_modules: list[str] | None = None
    train_layer_norms: bool = True


@METHODS.register("adapter")
class BottleneckAdapter(Method):
    """Insert a bottleneck adapter after each targeted projection; train adapters, LayerNorms, head.

    Example:
        >>> model = BottleneckAdapter().apply(model, AdapterOptions(bottleneck=32), task)
    """

    Options = AdapterOptions
    can_merge = False
    default_learning_rate = 1e-3
    search_space = {"method.bottleneck": ParamSpec(choices=[32, 64, 128])}
    prompt_adaptable = True
    compared_by_default = True

    def apply(self, model, options: AdapterOptions, task):
        """Attach adapters as child modules (``<proj>.adapter``) run by a forward hook."""
        patterns = options.target_modules or DEFAULT_TARGETS.get(getattr(model.config, "model_type", ""))
        if not patterns:
            raise ConfigError(
                f"no default adapter targets for model type {model.config.model_type!r}; set method.target_modules"
            )
        compiled = [re.compile(p) for p in patterns]
        targets = [(name, m) for name, m in model.named_modules() if name and any(c.search(name) for c in compiled)]
        if not targets:
            raise ConfigError(f"method.target_modules {patterns} match no module of {type(model).__name__}")
        head = head_parameter_names(model)
        for name, module in targets:
            width = getattr(module, "out_features", None) or getattr(module, "nf", None)
            if width is None:
                raise ConfigError(f"adapter target {name} is not a linear projection")
            module.add_module("adapter", Bottleneck(width, options.bottleneck))
            module.register_forward_hook(_add_adapter)

        def trains(param_name: str) -> bool:
            if param_name in head or ".adapter." in param_name:
                return True
            return options.train_layer_norms and ("LayerNorm" in param_name or "layer_norm" in param_name or ".ln_" in param_name)

        set_trainable(model, trains)
        return model

    def merge(self, model):
        raise ConfigError("bottleneck adapters are non-linear and cannot be merged into the base weights")
