"""The folder model registry: immutable numbered versions, stages, rollback, tamper checks, and a
server that serves a stage and reloads another version by its registry address."""

from __future__ import annotations

import json
import stat

import pytest

from tuneforge.errors import BundleError, ConfigError
from tuneforge.model_registry import FolderRegistry, parse_uri
from tuneforge.registry_access import bundle_argument

from .conftest import resign_bundle, train_tiny_bundle


@pytest.fixture(scope="module")
def two_bundles(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("registry")
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    first, _ = train_tiny_bundle(tiny_model_dir, tmp / "a")
    second, _ = train_tiny_bundle(tiny_model_dir, tmp / "b", train={"epochs": 2, "batch_size": 8})
    return first.bundle_dir, second.bundle_dir


def test_push_promote_rollback_and_resolve(two_bundles, tmp_path):
    registry = FolderRegistry(tmp_path / "reg")
    a, b = two_bundles
    assert [registry.push(a, "sentiment"), registry.push(b, "sentiment"), registry.push(a, "sentiment")] == [1, 2, 3]
    version_file = next((tmp_path / "reg/sentiment/versions/1/bundle").rglob("*.safetensors"))
    assert not version_file.stat().st_mode & stat.S_IWUSR  # versions are written read-only
    with pytest.raises(ConfigError, match="no version in stage 'production'"):
        registry.resolve("registry://sentiment@production")
    registry.promote("sentiment", 1, "production")
    registry.promote("sentiment", 2, "production")
    registry.promote("sentiment", 3, "production")
    registry.promote("sentiment", 2, "staging")
    assert registry.resolve("registry://sentiment@production") == tmp_path / "reg/sentiment/versions/3/bundle"
    assert registry.resolve("registry://sentiment@2") == tmp_path / "reg/sentiment/versions/2/bundle"
    assert registry.rollback("sentiment") == 2 and registry.rollback("sentiment") == 1
    with pytest.raises(ConfigError, match="no earlier version"):
        registry.rollback("sentiment")
    rows = registry.list()
    assert [(r["version"], r["stages"]) for r in rows] == [(1, ["production"]), (2, ["staging"]), (3, [])]
    assert rows[0]["task"] == "classification" and "accuracy" in rows[0]["metrics"]
    assert bundle_argument("registry://sentiment@staging", tmp_path / "reg").endswith("versions/2/bundle")
    with pytest.raises(ConfigError, match="has no version 9"):
        registry.promote("sentiment", 9)
    for bad in ("registry://../x@production", "registry://a@Prod!", "registry://@1"):
        with pytest.raises(ConfigError, match="expected registry://NAME@STAGE"):
            parse_uri(bad)


def test_a_tampered_version_is_refused(two_bundles, tmp_path):
    registry = FolderRegistry(tmp_path / "reg")
    a, b = two_bundles
    registry.push(a, "m")
    registry.push(a, "m")
    bundle = tmp_path / "reg/m/versions/1/bundle"
    weights = next(bundle.rglob("*.safetensors"))
    weights.chmod(0o644)
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(BundleError, match="does not match its sha256"):
        registry.promote("m", 1)
    # re-signed as a forger with TuneForge's code could: valid on its own, but not what was pushed
    second = tmp_path / "reg/m/versions/2/bundle"
    for path in second.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    manifest = json.loads((second / "tuneforge.json").read_text())
    manifest["task"]["label_names"] = list(reversed(manifest["task"]["label_names"]))
    resign_bundle(second, manifest)
    with pytest.raises(BundleError, match="tampered"):
        registry.resolve("registry://m@2")


def test_serve_a_stage_and_reload_a_version_by_its_address(two_bundles, tmp_path):
    httpx = pytest.importorskip("httpx")
    from .serve.conftest import Server

    registry = FolderRegistry(tmp_path / "reg")
    a, b = two_bundles
    registry.push(a, "m")
    registry.push(b, "m")
    registry.promote("m", 1)
    server = Server("registry://m@production", "--registry", tmp_path / "reg", log_dir=tmp_path)
    try:
        first = httpx.post(server.url + "/v1/predict", json={"text": "a great movie"}, timeout=30).json()
        reloaded = httpx.post(server.url + "/v1/admin/reload", json={"bundle": "registry://m@2"}, timeout=60)
        assert reloaded.status_code == 200 and reloaded.json()["bundle"] == "registry://m@2"
        second = httpx.post(server.url + "/v1/predict", json={"text": "a great movie"}, timeout=30).json()
        assert first["predictions"][0]["scores"] != second["predictions"][0]["scores"]  # the other version serves
        missing = httpx.post(server.url + "/v1/admin/reload", json={"bundle": "registry://m@7"}, timeout=30)
        assert missing.status_code == 422 and "has no version 7" in missing.json()["error"]
        assert str(tmp_path) not in missing.text  # the registry's location is not disclosed
    finally:
        server.stop()


def test_the_mlflow_registry_pushes_promotes_rolls_back_serves_and_refuses_tampering(two_bundles, tmp_path):
    pytest.importorskip("mlflow")
    httpx = pytest.importorskip("httpx")
    from tuneforge.mlflow_registry import MlflowRegistry

    from .serve.conftest import Server

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    registry = MlflowRegistry(uri)
    a, b = two_bundles
    assert [registry.push(a, "m"), registry.push(b, "m")] == [1, 2]
    registry.promote("m", 1)
    registry.promote("m", 2)
    assert registry.resolve("registry://m@production").name == "2"
    assert registry.rollback("m") == 1
    with pytest.raises(ConfigError, match="no earlier version"):
        registry.rollback("m")
    rows = registry.list("m")
    assert [(r["version"], r["stages"]) for r in rows] == [(1, ["production"]), (2, [])]
    assert rows[0]["task"] == "classification" and "accuracy" in rows[0]["metrics"]
    server = Server("registry://m@production", "--mlflow", uri, log_dir=tmp_path)
    try:
        served = httpx.get(server.url + "/v1/models", timeout=30).json()
        assert served["bundle"].endswith("m/1")
        reloaded = httpx.post(server.url + "/v1/admin/reload", json={"bundle": "registry://m@2"}, timeout=60)
        assert reloaded.status_code == 200, reloaded.text
    finally:
        server.stop()
    for stored in (tmp_path / "mlflow-artifacts").rglob("*.safetensors"):  # the logged artifacts themselves
        stored.write_bytes(stored.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(BundleError, match="does not match its sha256"):
        registry.resolve("registry://m@production")

