"""A new method and a new task, each written in a module of its own that nothing in TuneForge imports
or names, work everywhere once registered through the public registries (issue 13, acceptance 1)."""

from __future__ import annotations

import json
import sys

import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.methods import METHODS
from tuneforge.predictor import Predictor
from tuneforge.tasks import TASKS

from .toy_plugin import METHOD, MODULE, TASK

@pytest.fixture(scope="module")
def plugin():
    """The toy plugin, registered (by ``tests/conftest.py``) through the public registries only."""
    module = sys.modules[MODULE]
    assert METHOD in METHODS and TASK in TASKS
    return module


def config(tiny_config, **sections):
    return build_config({**tiny_config, "train": {**tiny_config["train"], "epochs": 1, "report_to": []}, **sections})


def test_a_method_from_a_module_of_its_own(plugin, tiny_config, tmp_path):
    cfg = config(tiny_config, method={"name": "top_and_head", "top": 1})
    result = api.train(cfg)
    manifest = json.loads((result.bundle_dir / "tuneforge.json").read_text())
    assert manifest["method"]["name"] == "top_and_head" and 0 < manifest["method"]["trainable_parameters"] < \
        manifest["method"]["total_parameters"]
    assert manifest["model"] == {"kind": "transformers"}  # merged: saved and reloaded as a plain model
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


def test_the_contract_tests_pick_the_plugin_up_from_the_registry():
    """The registry-driven contract test was parametrized with the plugin's method and task."""
    from .methods import test_contract

    assert METHOD in test_contract.ALL and TASK in test_contract.TASKS
