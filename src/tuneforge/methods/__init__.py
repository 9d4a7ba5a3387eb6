"""Adaptation methods: each decides which parameters train, registered in its own module.

Every method follows one contract:

- ``Options``: a pydantic model (the ``method:`` config section, ``name`` plus options);
- ``apply(model, options)``: returns the model with exactly the intended parameters trainable;
- ``can_merge``: whether the trained weights fold into a plain transformers model.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ..registry import Registry


class MethodOptions(BaseModel):
    """Options shared by every method; subclasses add their own."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str = "full"


class Method:
    """Base class for adaptation methods."""

    Options: type[MethodOptions] = MethodOptions
    can_merge: bool = True

    def apply(self, model, options: MethodOptions):
        """Prepare ``model`` for training under this method and return it."""
        raise NotImplementedError


METHODS: Registry[type[Method]] = Registry("method")


def count_parameters(model) -> tuple[int, int]:
    """Return (trainable, total) parameter counts of a torch module."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


from . import full  # noqa: E402,F401  (registers itself)
