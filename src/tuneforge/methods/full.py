"""Full fine-tuning: every weight of the backbone and the task head trains."""

from __future__ import annotations

from . import METHODS, Method, MethodOptions


class FullOptions(MethodOptions):
    """Full fine-tuning has no options of its own."""

    name: str = "full"


@METHODS.register("full")
class FullFineTuning(Method):
    """Train all parameters.

    Example:
        >>> model = FullFineTuning().apply(model, FullOptions(), task)
    """

    Options = FullOptions
    can_merge = True
    default_learning_rate = 1e-4
    prompt_adaptable = True
    compared_by_default = True
    model_families = ("transformers", "vision")

    def apply(self, model, options: FullOptions, task):
        """Mark every parameter trainable."""
        for param in model.parameters():
            param.requires_grad_(True)
        return model
