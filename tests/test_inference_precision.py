"""bf16 inference: measured against fp32 when the bundle is made, used only where the gate passed."""

from __future__ import annotations

import pytest
import torch

from tuneforge import inference_precision as gate
from tuneforge import precision
from tuneforge.predictor import Predictor

from .conftest import train_tiny_bundle

BF16_CPU = {"avx2", "avx512f", "avx512_bf16"}


@pytest.fixture(scope="module")
def gated_bundle(tiny_model_dir, tmp_path_factory):
    """A tiny classifier trained as on a bf16 CPU (so its bundle carries the parity check)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(precision, "cpu_flags", lambda: BF16_CPU)
        mp.setattr(precision, "bf16_speedup", lambda: 3.0)
        result, reviews = train_tiny_bundle(tiny_model_dir, tmp_path_factory.mktemp("gated"))
    return result, reviews


def test_the_bundle_records_the_bf16_check(gated_bundle):
    result, _ = gated_bundle
    check = result.predictor.manifest.inference["bf16"]
    assert 0 <= check["agreement"] <= 1 and check["max_probability_diff"] >= 0
    assert check["examples"] == len(result.eval_examples)
    assert check["accepted"] == (check["agreement"] >= gate.MIN_AGREEMENT
                                 and check["max_probability_diff"] <= gate.MAX_PROBABILITY_DIFF)
    report = (result.run_dir / "report.md").read_text()
    assert "**bf16 inference**:" in report


def test_auto_uses_bf16_only_on_a_bf16_cpu_with_a_passed_gate(gated_bundle, monkeypatch):
    result, _ = gated_bundle
    manifest = result.predictor.manifest
    manifest.inference["bf16"]["accepted"] = True
    monkeypatch.setattr(precision, "bf16_speedup", lambda: 3.0)
    assert gate.inference_precision(manifest, "auto", BF16_CPU).name == "bf16"
    assert gate.inference_precision(manifest, "auto", {"avx2"}).name == "fp32"
    assert gate.inference_precision(manifest, "fp32", BF16_CPU).name == "fp32"
    refused = manifest.model_copy(deep=True)
    refused.inference["bf16"]["accepted"] = False
    chosen = gate.inference_precision(refused, "auto", BF16_CPU)
    assert chosen.name == "fp32" and "failed the parity gate" in chosen.reason
    assert gate.inference_precision(refused, "bf16", BF16_CPU).name == "bf16"  # asked for explicitly
    unchecked = manifest.model_copy(update={"inference": None})
    assert "no bf16 parity check" in gate.inference_precision(unchecked, "auto", BF16_CPU).reason


def test_a_loaded_predictor_computes_in_the_chosen_precision(gated_bundle, monkeypatch):
    result, _ = gated_bundle
    monkeypatch.setattr(precision, "cpu_flags", lambda: BF16_CPU)
    monkeypatch.setattr(precision, "bf16_speedup", lambda: 3.0)
    manifest_gate = gate.inference_precision
    monkeypatch.setattr(gate, "inference_precision", lambda manifest, requested: (  # as if the gate passed
        precision.Precision("bf16", "test") if requested == "auto" else manifest_gate(manifest, requested)))
    loaded = Predictor.load(result.bundle_dir)
    seen = set()
    linear = next(m for m in loaded.model.modules() if isinstance(m, torch.nn.Linear))
    linear.register_forward_hook(lambda module, inp, out: seen.add(out.dtype))
    bf16 = loaded.predict_texts(["great film", "awful film"])
    assert seen == {torch.bfloat16}
    fp32_loaded = Predictor.load(result.bundle_dir, precision="fp32")
    assert fp32_loaded.precision.name == "fp32"
    fp32 = fp32_loaded.predict_texts(["great film", "awful film"])
    assert [p["label"] for p in bf16] == [p["label"] for p in fp32]


def test_the_gate_refuses_when_predictions_move(gated_bundle, monkeypatch):
    result, _ = gated_bundle
    monkeypatch.setattr(gate, "MAX_PROBABILITY_DIFF", -1.0)  # any difference at all is too much
    check = gate.check_bf16_inference(result.predictor, result.eval_examples)["bf16"]
    assert check["accepted"] is False


def test_text_generation_is_not_gated(gated_bundle, monkeypatch):
    result, _ = gated_bundle
    monkeypatch.setattr(type(result.predictor.task), "generates_text", True)
    assert gate.check_bf16_inference(result.predictor, result.eval_examples) is None


def test_bf16_inference_casts_the_weights_once_with_the_same_numbers(gated_bundle):
    result, _ = gated_bundle
    model = result.predictor.model
    twin = gate.with_bf16_weights(model)
    linears = [m for m in twin.modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(m.weight.dtype == torch.bfloat16 for m in linears)
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the original is left as it was
    batch = result.predictor.tokenizer(["great film", "a dull, tired and far too long film"], padding=True,
                                       return_tensors="pt")
    with torch.inference_mode(), precision.autocast("bf16"):
        cast_each_call = model(**batch).logits.float()
        cast_once = twin(**batch).logits.float()
    assert torch.equal(cast_each_call, cast_once)
    with torch.inference_mode():
        assert not torch.equal(model(**batch).logits, cast_once)  # bf16 really computed something else

    predictor = Predictor(model, result.predictor.tokenizer, result.predictor.manifest,
                          precision.Precision("bf16", "test"))
    first = predictor.computing_model()
    assert first is not model and predictor.computing_model() is first  # made once
    predictor.precision = precision.Precision("fp32", "test")
    assert predictor.computing_model() is model


def test_a_model_without_matrix_layers_is_not_copied():
    embedding = torch.nn.Embedding(3, 2)
    assert gate.with_bf16_weights(embedding) is embedding
    not_a_module = object()
    assert gate.with_bf16_weights(not_a_module) is not_a_module
