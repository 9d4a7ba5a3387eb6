"""Method-specific choices: exactly the intended parameters train; bad combinations fail early."""

from __future__ import annotations

import pytest

from tuneforge.errors import ConfigError

from .test_contract import build


def trained_names(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


def test_linear_probe_trains_only_the_head(tiny_model_dir):
    built, method, opts, task = build(tiny_model_dir, "classification", "linear_probe")
    assert trained_names(method.apply(built.model, opts, task)) == {"classifier.weight", "classifier.bias",
                                                        "bert.pooler.dense.weight", "bert.pooler.dense.bias"}


def test_bitfit_trains_biases_and_head(tiny_model_dir):
    built, method, opts, task = build(tiny_model_dir, "classification", "bitfit")
    names = trained_names(method.apply(built.model, opts, task))
    assert all(n.endswith(".bias") or n.startswith(("classifier.", "bert.pooler.")) for n in names)
    assert "bert.encoder.layer.0.attention.self.query.bias" in names
    assert "bert.encoder.layer.0.attention.self.query.weight" not in names


def test_freeze_top_k_and_explicit_layers(tiny_model_dir):
    built, method, opts, task = build(tiny_model_dir, "classification", "freeze", train_layers=1)
    names = trained_names(method.apply(built.model, opts, task))
    assert any(".layer.1." in n for n in names) and not any(".layer.0." in n for n in names)
    assert not any("embeddings" in n for n in names) and "classifier.weight" in names
    built, method, opts, task = build(tiny_model_dir, "classification", "freeze", layers=[0], freeze_embeddings=False)
    names = trained_names(method.apply(built.model, opts, task))
    assert any(".layer.0." in n for n in names) and not any(".layer.1." in n for n in names)
    assert any("embeddings" in n for n in names)


def test_freeze_out_of_range(tiny_model_dir):
    built, method, opts, task = build(tiny_model_dir, "classification", "freeze", train_layers=5)
    with pytest.raises(ConfigError, match="only 2 layers"):
        method.apply(built.model, opts, task)


def test_lora_trains_under_two_percent_on_default_sized_targets(tiny_model_dir):
    built, method, opts, task = build(tiny_model_dir, "classification", "lora", r=2)
    names = trained_names(method.apply(built.model, opts, task))
    assert any("lora_A" in n for n in names) and any("classifier" in n for n in names)
    assert not any(n.endswith("query.base_layer.weight") for n in names)


def test_lora_targets_that_match_nothing_fail_before_training(tiny_model_dir):
    built, method, opts, task = build(tiny_model_dir, "classification", "lora", target_modules=["no_such_module"])
    with pytest.raises(ConfigError, match="cannot be applied"):
        method.apply(built.model, opts, task)


def test_adapter_targets_that_match_nothing(tiny_model_dir):
    built, method, opts, task = build(tiny_model_dir, "classification", "adapter", target_modules=["nothing$"])
    with pytest.raises(ConfigError, match="match no module"):
        method.apply(built.model, opts, task)


def test_adapter_starts_as_identity(tiny_model_dir):
    import torch

    from .test_contract import batch

    built, method, opts, task = build(tiny_model_dir, "classification", "adapter", bottleneck=4)
    model = built.model.eval()
    inputs = {k: v for k, v in batch(tiny_model_dir, "classification").items() if k != "labels"}
    before = model(**inputs).logits
    after = method.apply(model, opts, task).eval()(**inputs).logits
    assert torch.allclose(before, after, atol=1e-6)
    assert any(".adapter.down." in n for n in trained_names(model))


def test_adalora_rank_budget_checked(tiny_model_dir):
    built, method, opts, task = build(tiny_model_dir, "classification", "adalora", init_r=4, target_r=8)
    with pytest.raises(ConfigError, match="target_r"):
        method.apply(built.model, opts, task)
