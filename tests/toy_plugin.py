"""A toy method and a toy task from outside TuneForge, written to a temporary module and imported from
there as a user's own plugin would be (``tests/conftest.py`` loads it before collection, so the
registry-driven contract tests pick both up; ``tests/test_extension.py`` drives them end to end).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

MODULE = "my_tuneforge_plugin"
METHOD, TASK = "top_and_head", "shouted"

PLUGIN = '''
"""A method and a task from outside TuneForge."""
from pydantic import Field

from tuneforge.methods import METHODS, Method, MethodOptions, head_parameter_names, set_trainable
from tuneforge.schema import ParamSpec
from tuneforge.tasks import TASKS
from tuneforge.tasks.classification import SequenceClassification


class TopAndHeadOptions(MethodOptions):
    name: str = "top_and_head"
    top: int = Field(1, ge=1)


@METHODS.register("top_and_head")
class TopAndHead(Method):
    """Train the head and the top encoder layers (a tiny variant of freezing)."""

    Options = TopAndHeadOptions
    default_learning_rate = 2e-3
    search_space = {"method.top": ParamSpec(choices=[1, 2])}
    compared_by_default = False

    def apply(self, model, options, task):
        head = head_parameter_names(model)
        layers = len(getattr(model, model.base_model_prefix).encoder.layer)  # the backbone, whatever the head
        keep = tuple(f"encoder.layer.{i}." for i in range(layers - options.top, layers))
        set_trainable(model, lambda name: name in head or any(k in name for k in keep))
        return model


class ShoutedOptions(SequenceClassification.Options):
    type: str = "shouted"


class Shouted(SequenceClassification):
    """Classification whose labels arrive in any case and are learnt in capitals."""

    name = "shouted"
    Options = ShoutedOptions

    def parse_label(self, cell, where, columns):
        return super().parse_label(cell, where, columns).upper()


TASKS.register("shouted")(Shouted())
'''


def load_plugin(folder: Path):
    """Write the plugin to ``folder`` and import it by path (nothing in TuneForge imports or names it)."""
    if MODULE in sys.modules:
        return sys.modules[MODULE]
    path = Path(folder) / f"{MODULE}.py"
    path.write_text(PLUGIN, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(MODULE, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module
    spec.loader.exec_module(module)
    return module
