"""The bundle reloads only when its files match the manifest."""

from __future__ import annotations

import json
import shutil

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
    assert manifest.format_version == FORMAT_VERSION
    assert manifest.task.label_names == ["negative", "positive"]
    assert manifest.method.name == "full" and manifest.model.kind == "transformers"
    assert len(manifest.base_model.weights_sha256) == 64
    assert {"model/model.safetensors", "model/config.json", "report.md"} <= set(manifest.files)
    assert {"torch", "transformers", "tuneforge"} <= set(manifest.versions)
    assert "accuracy" in manifest.metrics
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


def test_an_edited_manifest_is_refused(bundle_dir, tmp_path):
    """Finding 5: edited label names were served; an edited task type served multi-label output."""
    target = copy_bundle(bundle_dir, tmp_path)
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["task"]["label_names"] = ["positive", "negative"]
    (target / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="manifest was edited after the bundle was written"):
        Predictor.load(target)
    manifest["task"]["label_names"] = ["negative", "positive"]
    manifest["task"]["type"] = "multilabel"
    (target / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="manifest was edited"):
        Predictor.load(target)


@pytest.mark.parametrize("section, value, message", [
    ("label_names", ["positive", "negative"], "in config.json"),
    ("type", "multilabel", "problem_type"),
    ("type", "token_classification", "ForTokenClassification"),
])
def test_a_forged_manifest_still_disagrees_with_its_model(bundle_dir, tmp_path, section, value, message):
    """Even with the digest and hashes forged to match, the manifest must agree with config.json."""
    from .conftest import resign_bundle

    target = copy_bundle(bundle_dir, tmp_path)
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["task"][section] = value
    resign_bundle(target, manifest)
    with pytest.raises(BundleError, match=message):
        Predictor.load(target)


def test_symlinks_inside_a_bundle_are_refused(bundle_dir, tmp_path):
    """Finding 10: a symlink to a folder or to a file outside the bundle was accepted."""
    from .conftest import resign_bundle

    outside = tmp_path / "outside.txt"
    outside.write_text("not part of the bundle")
    target = copy_bundle(bundle_dir, tmp_path)
    (target / "notes.txt").symlink_to(outside)
    resign_bundle(target)
    with pytest.raises(BundleError, match="notes.txt: bundles may not hold symlinks"):
        Predictor.load(target)
    (target / "notes.txt").unlink()
    (target / "extra").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(BundleError, match="may not hold symlinks"):
        Predictor.load(target)


def test_bundle_files_share_one_mode(bundle_dir):
    """Finding 10: model.safetensors was written 0600 while the other files were 0644."""
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    modes = {stat.S_IMODE(p.stat().st_mode) for p in bundle_dir.rglob("*") if p.is_file()}
    assert modes == {0o666 & ~umask}


def test_no_partial_bundle_is_left_in_place(bundle_dir, tmp_path, monkeypatch):
    """A save that fails midway leaves the old bundle (or none), never a half-written one."""
    from tuneforge import bundle as bundle_module

    target = copy_bundle(bundle_dir, tmp_path)
    before = read_manifest(target).files
    predictor = Predictor.load(target)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(bundle_module, "_write_manifest", broken)
    with pytest.raises(OSError):
        bundle_module.save_bundle(target, predictor.model, predictor.tokenizer, predictor.manifest)
    assert read_manifest(target).files == before  # the old bundle, untouched and still valid
    Predictor.load(target)


def as_format_1(bundle_dir, tmp_path):
    """The bundle as TuneForge wrote it before manifests had a digest (format version 1)."""
    from .conftest import as_old_format

    return as_old_format(copy_bundle(bundle_dir, tmp_path), 1)


def test_format_1_bundles_still_load_and_predict_the_same(bundle_dir, tmp_path, caplog):
    old, _ = as_format_1(bundle_dir, tmp_path)
    texts = ["a great movie", "so boring"]
    assert Predictor.load(old).predict_texts(texts) == Predictor.load(bundle_dir).predict_texts(texts)
    assert "bundle format 1" in caplog.text


def test_format_1_bundles_are_still_checked_against_their_model(bundle_dir, tmp_path):
    old, manifest = as_format_1(bundle_dir, tmp_path)
    manifest["task"]["label_names"] = ["positive", "negative"]
    (old / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match="in config.json"):
        Predictor.load(old)


def test_format_2_bundles_load_migrated_and_predict_the_same(bundle_dir, tmp_path):
    """Format 2 (a digest, no typed ``model`` section) is what TuneForge wrote before the typed manifest."""
    from .conftest import as_old_format

    old, raw = as_old_format(copy_bundle(bundle_dir, tmp_path), 2)
    assert "model" not in raw and raw["format_version"] == 2
    manifest = read_manifest(old)
    assert manifest.format_version == FORMAT_VERSION and manifest.model.kind == "transformers"
    texts = ["a great movie", "so boring"]
    assert Predictor.load(old).predict_texts(texts) == Predictor.load(bundle_dir).predict_texts(texts)


def test_an_update_upgrades_an_old_bundle_to_the_current_format(bundle_dir, tmp_path):
    from tuneforge.bundle import update_manifest

    from .conftest import as_old_format

    old, _ = as_old_format(copy_bundle(bundle_dir, tmp_path), 2)
    update_manifest(old, compress={"final": "original"})
    raw = json.loads((old / MANIFEST).read_text())
    assert raw["format_version"] == FORMAT_VERSION and raw["model"] == {"kind": "transformers"}
    assert read_manifest(old).compress == {"final": "original"}  # verified again: digest and hashes hold


def test_a_manifest_section_of_the_wrong_type_is_one_bundle_error(bundle_dir, tmp_path):
    from .conftest import resign_bundle

    target = copy_bundle(bundle_dir, tmp_path)
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["task"]["max_length"] = "long"
    resign_bundle(target, manifest)
    with pytest.raises(BundleError, match="task.max_length"):
        Predictor.load(target)


def test_every_method_names_a_registered_kind_and_migration_agrees():
    """A bundle written before kinds gets the kind its method says, for every registered method."""
    from tuneforge.bundled import MODEL_KINDS, kind_for
    from tuneforge.methods import METHODS

    for name in METHODS.names():
        method = METHODS.get(name)()
        options = method.Options()
        for merged in (True, False):
            kind = method.model_kind(options, merged)
            assert kind in MODEL_KINDS, (name, kind)
            assert kind_for(name, options.model_dump(mode="json"), merged) == kind
    with pytest.raises(BundleError, match="unknown method"):
        kind_for("no_such_method", {}, True)


def test_a_run_folder_given_for_its_bundle_gets_a_hint(bundle_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(bundle_dir, run / "bundle")
    with pytest.raises(BundleError, match=r"did you mean .*run/bundle\?"):
        read_manifest(run)
    with pytest.raises(BundleError) as plain:
        read_manifest(tmp_path)
    assert "did you mean" not in str(plain.value)
