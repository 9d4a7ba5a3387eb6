"""Model folders and bundles are untrusted: no code runs from them, no pickle loads, errors are one line.

Findings 2, 7 and 9 of the security probe (issue 12); each test failed before the fix (a prompt
that ran code, a pickle that trained, or a traceback).
"""

from __future__ import annotations

import json
import shutil

import pytest
import yaml
from typer.testing import CliRunner

from tuneforge.cli import app

from .conftest import assert_one_error as assert_clean_failure, resign_bundle, train_tiny_bundle
runner = CliRunner()


EVIL_CODE = """
from pathlib import Path
Path({marker!r}).write_text("custom code ran")
from transformers import BertForSequenceClassification, BertConfig
class EvilConfig(BertConfig):
    pass
class EvilModel(BertForSequenceClassification):
    config_class = EvilConfig
"""


def with_custom_code(folder, marker):
    """Add a modeling file and an ``auto_map`` to a model folder, as a hostile model would."""
    (folder / "modeling_evil.py").write_text(EVIL_CODE.format(marker=str(marker)))
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "modeling_evil.EvilConfig",
                          "AutoModelForSequenceClassification": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))


def train_config(tmp_path, model, sentiment_csv) -> str:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump({"data": {"train": str(sentiment_csv)}, "model": {"name": str(model)},
                                    "train": {"epochs": 1, "batch_size": 8}, "output": {"dir": str(tmp_path / "run")}}))
    return str(path)


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    return folder


@pytest.fixture(scope="module")
def bundle(tiny_model_dir, tmp_path_factory):
    result, _ = train_tiny_bundle(tiny_model_dir, tmp_path_factory.mktemp("files"))
    return result.bundle_dir


def test_a_model_folder_with_custom_code_is_refused_before_loading(model_copy, sentiment_csv, tmp_path):
    marker = tmp_path / "ran.txt"
    with_custom_code(model_copy, marker)
    result = runner.invoke(app, ["train", train_config(tmp_path, model_copy, sentiment_csv)], input="y\ny\ny\n")
    assert_clean_failure(result, "modeling_evil.py is a code file", "never runs code")
    assert not marker.exists()


def test_auto_map_alone_is_refused(model_copy, sentiment_csv, tmp_path):
    with_custom_code(model_copy, tmp_path / "ran.txt")
    (model_copy / "modeling_evil.py").unlink()  # the code would come from the hub: refused all the same
    result = runner.invoke(app, ["train", train_config(tmp_path, model_copy, sentiment_csv)], input="y\n")
    assert_clean_failure(result, "config.json declares custom code (auto_map)")


def test_a_bundle_with_custom_code_is_refused(bundle, tmp_path):
    target = tmp_path / "bundle"
    shutil.copytree(bundle, target)
    marker = tmp_path / "ran.txt"
    with_custom_code(target / "model", marker)
    resign_bundle(target)  # the hashes match: an old TuneForge copied code into bundles and hashed it
    result = runner.invoke(app, ["predict", str(target), "--text", "fun"], input="y\ny\n")
    assert_clean_failure(result, "modeling_evil.py is a code file")
    assert not marker.exists()


def test_pickled_weights_are_refused_with_a_hint(model_copy, sentiment_csv, tmp_path):
    import torch
    from safetensors.torch import load_file

    weights = load_file(str(model_copy / "model.safetensors"))
    (model_copy / "model.safetensors").unlink()
    torch.save(weights, model_copy / "pytorch_model.bin")
    result = runner.invoke(app, ["train", train_config(tmp_path, model_copy, sentiment_csv)])
    assert_clean_failure(result, "pytorch_model.bin", "safetensors weights only", "safe_serialization=True")


def test_random_bytes_as_weights(model_copy, sentiment_csv, tmp_path):
    (model_copy / "model.safetensors").write_bytes(bytes(range(256)) * 40)
    result = runner.invoke(app, ["train", train_config(tmp_path, model_copy, sentiment_csv)])
    assert_clean_failure(result, "model.safetensors: not a valid safetensors file")


@pytest.mark.parametrize("content, message", [("{not json", "config.json: not valid JSON"),
                                              ("[1, 2]", "config.json: must hold a JSON object"),
                                              ('{"model_type": "no-such-architecture"}', "no-such-architecture")])
def test_invalid_backbone_config(model_copy, sentiment_csv, tmp_path, content, message):
    (model_copy / "config.json").write_text(content)
    result = runner.invoke(app, ["train", train_config(tmp_path, model_copy, sentiment_csv)])
    assert_clean_failure(result, message)


@pytest.mark.parametrize("command", ["predict", "evaluate", "serve"])
def test_rehashed_bundle_with_non_safetensors_weights(bundle, sentiment_csv, tmp_path, command):
    target = tmp_path / "bundle"
    shutil.copytree(bundle, target)
    (target / "model" / "model.safetensors").write_bytes(b"\x80\x04 a pickle, not safetensors")
    resign_bundle(target)
    extra = {"predict": ["--text", "fun"], "evaluate": ["--data", str(sentiment_csv)], "serve": ["--port", "1"]}
    result = runner.invoke(app, [command, str(target), *extra[command]])
    assert_clean_failure(result, "model/model.safetensors: not a valid safetensors file")
