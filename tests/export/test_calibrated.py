"""Static int8 and OpenVINO variants go through the same gate; --backend auto picks the fastest accepted one."""

from __future__ import annotations

import json
import shutil

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("openvino")

from tuneforge import api  # noqa: E402
from tuneforge.bundle import read_manifest  # noqa: E402
from tuneforge.export import backend_choice  # noqa: E402
from tuneforge.inference_precision import inference_precision  # noqa: E402
from tuneforge.predictor import Predictor  # noqa: E402

from ..conftest import train_tiny_bundle  # noqa: E402


@pytest.fixture(scope="module")
def exported(tiny_model_dir, tmp_path_factory):
    """A tiny classifier exported with every variant."""
    result, data = train_tiny_bundle(tiny_model_dir, tmp_path_factory.mktemp("calibrated"))
    section = api.export(result.bundle_dir, data, static_int8=True, openvino=True)
    return result.bundle_dir, data, section


def test_every_variant_is_measured_and_written_into_the_bundle(exported):
    bundle, _, section = exported
    assert set(section["variants"]) == {"fp32", "int8", "static_int8", "openvino", "openvino_bf16", "openvino_int8",
                                        "openvino_static_int8"}
    for name, row in section["variants"].items():
        assert (bundle / row["file"]).is_file(), name
        assert 0 <= row["agreement"] <= 1 and row["examples"] == 24
        assert "accepted" in row or name == "fp32"
    assert section["variants"]["openvino"]["runtime"] == "openvino"
    assert section["variants"]["openvino_bf16"]["file"] == section["variants"]["openvino"]["file"]  # one IR, two hints
    assert [section["variants"][n]["precision"] for n in ("openvino", "openvino_bf16")] == ["f32", "bf16"]
    quantized = (bundle / section["variants"]["openvino_static_int8"]["file"]).read_text()
    assert "FakeQuantize" in quantized or "FakeConvert" in quantized  # activations quantized, not only weights
    assert (bundle / "openvino" / "model.bin").is_file() and (bundle / "onnx" / "model.qdq.onnx").is_file()
    qdq = (bundle / "onnx" / "model.qdq.onnx").read_bytes()
    assert b"QuantizeLinear" in qdq  # a QDQ graph, not a copy of the fp32 one
    assert section["variants"]["static_int8"]["calibrated_on"] == "the first 24 evaluation examples"  # data = train
    read_manifest(bundle)  # every new file is hashed: the bundle still verifies


def test_openvino_fp32_predicts_like_pytorch(exported):
    bundle, _, section = exported
    assert section["variants"]["openvino"]["max_abs_diff"] < 1e-2  # its own kernels: ~1e-3, not 1e-6
    assert section["variants"]["openvino"]["agreement"] == 1.0
    torch_predictions = Predictor.load(bundle, precision="fp32").predict_texts(["a great film", "a dull film"])
    openvino = Predictor.load(bundle, backend="onnx", variant="openvino")
    assert openvino.backend == "onnx:openvino"
    assert [p["label"] for p in openvino.predict_texts(["a great film", "a dull film"])] == \
        [p["label"] for p in torch_predictions]


def test_auto_measures_accepted_variants_picks_the_fastest_and_caches(exported, tmp_path, monkeypatch):
    bundle, _, section = exported
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / "home"))
    fake = {"torch": 5.0, "torch-fp32": 4.5, "fp32": 4.0, "int8": 3.0, "static_int8": 1.0, "openvino": 2.0,
            "openvino_bf16": 1.5, "openvino_int8": 0.5, "openvino_static_int8": 0.7}
    refused = {n for n, r in section["variants"].items() if not r.get("accepted", True)}
    gated_bf16 = inference_precision(read_manifest(bundle)).bf16
    if not gated_bf16:
        refused.add("torch-fp32")  # torch is fp32 already: no second torch candidate
    measured = []

    def stub(predict, pairs=False, examples=None):  # stubbed timing: one figure per candidate, by the predictor it loaded
        predictor = predict.__self__
        name = predictor.backend.split(":")[-1]
        if name == "torch" and gated_bf16 and predictor.precision.name == "fp32":
            name = "torch-fp32"
        measured.append(name)
        return {"batch1_ms": fake[name], "batch32_ms": 10 * fake[name], "total_s": fake[name]}

    monkeypatch.setattr(backend_choice, "measure", stub)
    predictor = Predictor.load(bundle, backend="auto")
    expected = min((n for n in fake if n not in refused), key=fake.get)
    assert predictor.backend == ("torch" if expected.startswith("torch") else f"onnx:{expected}")
    assert set(measured) == set(fake) - refused  # refused variants are never candidates
    cached = list((tmp_path / "home" / "backend-choices").glob("*.json"))
    assert len(cached) == 1 and json.loads(cached[0].read_text())["variant"] == expected
    measured.clear()
    assert Predictor.load(bundle, backend="auto").backend == predictor.backend
    assert measured == []  # the second load reads the cache


def test_a_tampered_cache_cannot_pick_a_refused_variant(exported, tmp_path, monkeypatch):
    bundle, _, section = exported
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / "home"))
    manifest = read_manifest(bundle)
    cache = backend_choice._cache_file(bundle)
    cache.parent.mkdir(parents=True)
    cache.write_text(json.dumps({"backend": "onnx", "variant": "not-a-variant", "timings": {}}))
    monkeypatch.setattr(backend_choice, "measure", lambda predict, pairs=False, examples=None: {
        "batch1_ms": 1.0, "batch32_ms": 1.0, "total_s": 1.0})
    choice = backend_choice.choose_backend(bundle, manifest, lambda b, v: Predictor.load(bundle, b, v))
    assert (choice["backend"], choice["variant"]) in backend_choice.candidates(manifest)


def test_a_bundle_without_export_runs_on_torch_under_auto(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / "home"))
    result, _ = train_tiny_bundle(tiny_model_dir, tmp_path)
    backend = Predictor.load(result.bundle_dir, backend="auto").backend
    # PyTorch only; on a bf16 CPU, fp32 for single texts and bf16 for batches where that measured faster
    assert backend == "torch" or backend.startswith("torch (fp32)"), backend
    assert "onnx" not in backend and "openvino" not in backend


def test_re_export_forgets_the_cached_choice(exported, tmp_path, monkeypatch):
    bundle, data, _ = exported
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / "home"))
    cache = backend_choice.cache_folder()
    cache.mkdir(parents=True)
    (cache / "x.json").write_text(json.dumps({"bundle": str(copy.resolve()), "backend": "torch", "variant": None}))
    backend_choice.forget_choice(copy)
    assert not (cache / "x.json").exists()


def test_auto_can_pick_torch_in_fp32_over_its_bf16(exported, tmp_path, monkeypatch):
    bundle, _, _ = exported
    if not inference_precision(read_manifest(bundle)).bf16:
        pytest.skip("precision auto keeps fp32 on this CPU: torch has one precision to measure")
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / "home"))

    def stub(predict, pairs=False, examples=None):  # fp32 torch fastest, everything else slower
        predictor = predict.__self__
        fast = predictor.backend == "torch" and predictor.precision.name == "fp32"
        return {"batch1_ms": 1.0, "batch32_ms": 1.0, "total_s": 0.1 if fast else 1.0}

    monkeypatch.setattr(backend_choice, "measure", stub)
    predictor = Predictor.load(bundle, backend="auto")
    assert predictor.backend == "torch" and predictor.precision.name == "fp32"


def test_an_unknown_openvino_precision_in_a_manifest_is_refused(exported):
    from tuneforge.bundled import onnx_model
    from tuneforge.errors import BundleError

    bundle, _, _ = exported
    manifest = read_manifest(bundle)
    manifest.onnx["variants"]["openvino_bf16"]["precision"] = "u1"
    with pytest.raises(BundleError, match="unknown precision"):
        onnx_model(bundle, manifest, "openvino_bf16")


def test_routing_needs_two_winners_and_takes_batches_of_8_where_the_small_one_wins_there():
    options = [("torch", None), ("onnx", "int8")]
    one_wins = {"torch": {"batch1_ms": 2, "batch8_ms": 5, "batch32_ms": 10},
                "int8": {"batch1_ms": 1, "batch8_ms": 4, "batch32_ms": 9}}
    assert backend_choice.routed(options, one_wins) is None
    split = {"torch": {"batch1_ms": 2, "batch8_ms": 5, "batch32_ms": 10},
             "int8": {"batch1_ms": 1, "batch8_ms": 4, "batch32_ms": 20}}
    assert backend_choice.routed(options, split) == {"backend": "onnx", "variant": "int8", "small_rows": 8}
    split["int8"]["batch8_ms"] = 6
    assert backend_choice.routed(options, split)["small_rows"] == 1


def test_auto_routes_small_batches_and_large_ones_to_their_fastest_runtimes(exported, tmp_path, monkeypatch):
    from tuneforge.export.size_router import SizeRouter

    bundle, _, section = exported
    if not section["variants"]["int8"].get("accepted", True):
        pytest.skip("the tiny model's int8 variant was refused")
    monkeypatch.setenv("TUNEFORGE_HOME", str(tmp_path / "home"))

    def stub(predict, pairs=False, examples=None):  # int8 fastest alone, torch fastest in batches
        name = predict.__self__.backend
        fast_alone = name == "onnx:int8"
        fast_batched = name == "torch" and predict.__self__.precision.name == "fp32"
        return {"batch1_ms": 1.0 if fast_alone else 3.0, "batch8_ms": 2.0 if fast_alone else 4.0,
                "batch32_ms": 5.0 if fast_batched else 9.0, "total_s": 1.0}

    monkeypatch.setattr(backend_choice, "measure", stub)
    predictor = Predictor.load(bundle, backend="auto", precision="fp32")
    assert isinstance(predictor.model, SizeRouter) and predictor.model.small_rows == 8
    assert predictor.backend.startswith("onnx:int8 for batches up to 8") and "torch (fp32) above" in predictor.backend
    calls = []
    monkeypatch.setattr(predictor.model.small, "forward", lambda **b: calls.append("small") or predictor.model.large(**b))
    texts = [f"film number {i} was {'great' if i % 2 else 'dull'}" for i in range(20)]
    routed_labels = [p["label"] for p in predictor.predict_texts(texts[:1])] + \
        [p["label"] for p in predictor.predict_texts(texts)]
    assert calls == ["small"]  # one text went to the small side, twenty did not
    from fastapi.testclient import TestClient

    from tuneforge.serve.app import ServeSettings, create_app

    with TestClient(create_app(ServeSettings(bundle=str(bundle)), predictor=predictor),
                    base_url="http://127.0.0.1:8000") as http:
        models = http.get("/v1/models").json()
    assert models["backend"] == predictor.backend and models["precision"] is None  # two runtimes name their own
    plain = Predictor.load(bundle, precision="fp32")
    assert routed_labels == [p["label"] for p in plain.predict_texts(texts[:1] + texts)]
    cached = json.loads(next((tmp_path / "home" / "backend-choices").glob("*.json")).read_text())
    assert cached["small"]["variant"] == "int8" and cached["backend"] == "torch"
    cached["small"]["variant"] = "not-a-variant"  # a tampered cache is measured again, never followed
    next((tmp_path / "home" / "backend-choices").glob("*.json")).write_text(json.dumps(cached))
    assert Predictor.load(bundle, backend="auto", precision="fp32").model.small_rows == 8


def test_a_precision_the_cpu_cannot_compute_falls_back_to_f32(exported, monkeypatch, caplog):
    import openvino

    from tuneforge.export.openvino_runtime import OpenVinoModel

    bundle, _, section = exported
    real = openvino.Core

    class NoBf16Core(real):  # as on a CPU without bf16, where a plugin refuses the hint
        def compile_model(self, model, device, config):
            if config.get("INFERENCE_PRECISION_HINT") == "bf16":
                raise RuntimeError("inference precision bf16 is not supported on this platform")
            return super().compile_model(model, device, config)

    monkeypatch.setattr(openvino, "Core", NoBf16Core)
    with caplog.at_level("WARNING", logger="tuneforge"):
        model = OpenVinoModel(bundle / section["variants"]["openvino_bf16"]["file"], precision="bf16")
    assert "f32 instead" in caplog.text
    assert model.compiled.get_property("INFERENCE_PRECISION_HINT") == openvino.Type.f32
