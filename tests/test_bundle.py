"""The bundle reloads only when its files match the manifest."""

from __future__ import annotations

import json

import pytest

from tuneforge.bundle import FORMAT_VERSION, MANIFEST, read_manifest
from tuneforge.config import build_config
from tuneforge.errors import BundleError
from tuneforge.predictor import Predictor


@pytest.fixture(scope="module")
def bundle_dir(tiny_model_dir, tmp_path_factory):
    from tuneforge import api

    from .conftest import NEGATIVE, POSITIVE, write_csv

    tmp = tmp_path_factory.mktemp("bundle")
    rows = [{"text": t, "label": "positive"} for t in POSITIVE] + [{"text": t, "label": "negative"} for t in NEGATIVE]
    config = {
        "data": {"train": str(write_csv(tmp / "d.csv", rows))},
        "model": {"name": str(tiny_model_dir), "max_length": 32},
        "train": {"epochs": 1, "batch_size": 8},
        "output": {"dir": str(tmp / "run")},
    }
    return api.train(build_config(config)).bundle_dir


def copy_bundle(bundle_dir, tmp_path):
    import shutil

    target = tmp_path / "bundle"
    shutil.copytree(bundle_dir, target)
    return target


def test_manifest_content(bundle_dir):
    manifest = read_manifest(bundle_dir)
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["task"]["label_names"] == ["negative", "positive"]
    assert manifest["method"]["name"] == "full"
    assert len(manifest["base_model"]["weights_sha256"]) == 64
    assert {"model/model.safetensors", "model/config.json", "report.md"} <= set(manifest["files"])
    assert {"torch", "transformers", "tuneforge"} <= set(manifest["versions"])
    assert "accuracy" in manifest["metrics"]
    assert not list(bundle_dir.rglob("*.bin")) and not list(bundle_dir.rglob("*.pt"))


def test_altered_file_is_refused(bundle_dir, tmp_path):
    target = copy_bundle(bundle_dir, tmp_path)
    config = target / "model" / "config.json"
    config.write_text(config.read_text().replace("positive", "POSITIVE"))
    with pytest.raises(BundleError, match="model/config.json does not match its sha256"):
        Predictor.load(target)


def test_missing_and_extra_files_are_refused(bundle_dir, tmp_path):
    target = copy_bundle(bundle_dir, tmp_path)
    (target / "report.md").unlink()
    (target / "model" / "evil.bin").write_bytes(b"x")
    with pytest.raises(BundleError) as err:
        Predictor.load(target)
    assert "missing report.md" in str(err.value) and "unexpected file model/evil.bin" in str(err.value)


def test_unknown_format_version_is_refused(bundle_dir, tmp_path):
    target = copy_bundle(bundle_dir, tmp_path)
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["format_version"] = 99
    (target / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="format version 99 is not supported"):
        read_manifest(target)


def test_not_a_bundle(tmp_path):
    with pytest.raises(BundleError, match="bundle folder not found"):
        read_manifest(tmp_path / "nothing")
    with pytest.raises(BundleError, match="tuneforge.json is missing"):
        read_manifest(tmp_path)
