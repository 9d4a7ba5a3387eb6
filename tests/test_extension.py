"""A new method and a new task, each written in a module of its own that nothing in TuneForge imports
or names, work everywhere once registered through the public registries (issue 13, acceptance 1)."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.methods import METHODS
from tuneforge.predictor import Predictor
from tuneforge.tasks import TASKS

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

    def apply(self, model, options):
        head = head_parameter_names(model)
        layers = len(model.base_model.encoder.layer)
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


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """Import the plugin from a file (as a user's own module would be), and unregister it afterwards."""
    path = tmp_path_factory.mktemp("plugin") / "my_tuneforge_plugin.py"
    path.write_text(PLUGIN)
    spec = importlib.util.spec_from_file_location("my_tuneforge_plugin", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    METHODS.unregister("top_and_head")
    TASKS.unregister("shouted")
    sys.modules.pop(spec.name, None)


def config(tiny_config, **sections):
    return build_config({**tiny_config, "train": {**tiny_config["train"], "epochs": 1, "report_to": []}, **sections})


def test_a_method_from_a_module_of_its_own(plugin, tiny_config, tmp_path):
    cfg = config(tiny_config, method={"name": "top_and_head", "top": 1})
    result = api.train(cfg)
    manifest = json.loads((result.bundle_dir / "tuneforge.json").read_text())
    assert manifest["method"]["name"] == "top_and_head" and 0 < manifest["method"]["trainable_parameters"] < \
        manifest["method"]["total_parameters"]
    again = Predictor.load(result.bundle_dir)
    assert again.predict_texts(["a great movie"]) == result.predictor.predict_texts(["a great movie"])
    assert api.predict(result.bundle_dir, texts=["so dull"])[0]["label"] in {"positive", "negative"}

    compared = api.compare(cfg, methods=["top_and_head", "bitfit"], budget_seconds=120, output=tmp_path / "cmp")
    row = next(r for r in compared.rows if r["method"] == "top_and_head")
    assert row["error"] is None and row["learning_rate"] == pytest.approx(1e-3)  # the config's method keeps its lr
    other = api.compare(config(tiny_config), methods=["top_and_head"], budget_seconds=60, output=tmp_path / "cmp2")
    assert other.rows[0]["learning_rate"] == pytest.approx(2e-3)  # its declared default_learning_rate

    tuned = api.tune(config(tiny_config, method={"name": "top_and_head"},
                            tune={"include_default": False, "n_startup_trials": 1},
                            output={"dir": str(tmp_path / "tune")}), trials=1)
    rows = json.loads((tuned.tune_dir / "trials.json").read_text())
    assert rows[0]["method.top"] in (1, 2)  # drawn from the method's declared search space


def test_a_task_from_a_module_of_its_own(plugin, tiny_config, tmp_path):
    cfg = config(tiny_config, task={"type": "shouted"})
    result = api.train(cfg)
    assert result.predictor.label_names == ["NEGATIVE", "POSITIVE"]
    assert (result.run_dir / "report.html").read_text().count('id="confusion"') == 1  # the task's report parts
    reloaded = Predictor.load(result.bundle_dir)
    assert reloaded.task.name == "shouted"
    assert reloaded.predict_texts(["a great movie"])[0]["label"] in {"NEGATIVE", "POSITIVE"}
    metrics = api.evaluate(result.bundle_dir, tiny_config["data"]["train"])
    assert metrics["n"] == 24
    compared = api.compare(cfg, methods=["bitfit"], budget_seconds=60, output=tmp_path / "cmp")
    assert compared.rows[0]["error"] is None
    tuned = api.tune(config(tiny_config, task={"type": "shouted"}, output={"dir": str(tmp_path / "tune")}), trials=1)
    assert json.loads((tuned.tune_dir / "trials.json").read_text())[0]["state"] == "complete"


def test_nothing_else_names_them(plugin):
    """The plugin's names appear in no TuneForge source file: registration alone made them work."""
    from pathlib import Path

    import tuneforge

    for path in Path(tuneforge.__file__).parent.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "top_and_head" not in text and "shouted" not in text, path
