"""Adversarial training on the embeddings: the perturbation stays in its ball and off padding, the
adversarial step changes what is learnt, frozen-embedding methods take part, and methods without
gradient training get a clear error."""

from __future__ import annotations

import pytest
import torch

from tuneforge.errors import ConfigError
from tuneforge.training.adversarial import EmbeddingNoise, ascend

from ..conftest import train_tiny_bundle


def test_ascent_steps_along_the_gradient_and_stays_in_the_ball():
    delta = torch.zeros(3, 4, 5)
    grad = torch.randn(3, 4, 5)
    moved = ascend(delta, grad, step_size=10.0, epsilon=0.5)
    norms = moved.flatten(1).norm(dim=1)
    assert norms == pytest.approx([0.5] * 3, abs=1e-5)  # projected back onto the ball
    cosine = torch.nn.functional.cosine_similarity(moved.flatten(1), grad.flatten(1))
    assert cosine.min() > 0.999  # in the gradient's direction
    small = ascend(delta, grad, step_size=0.1, epsilon=0.5)
    assert small.flatten(1).norm(dim=1) == pytest.approx([0.1] * 3, abs=1e-5)  # inside: not projected


def test_the_hook_perturbs_real_tokens_only_and_only_while_active():
    embedding = torch.nn.Embedding(10, 4)
    noise = EmbeddingNoise(embedding)
    ids = torch.tensor([[1, 2, 0], [3, 0, 0]])
    clean = embedding(ids)
    noise.start({"attention_mask": torch.tensor([[1, 1, 0], [1, 0, 0]])})
    embedding(ids)  # creates the zero delta
    noise.set(torch.ones(2, 3, 4), needs_grad=False)
    moved = embedding(ids) - clean
    assert torch.allclose(moved[0, :2], torch.ones(2, 4)) and torch.allclose(moved[1, 0], torch.ones(4))
    assert moved[0, 2].abs().sum() == 0 and moved[1, 1:].abs().sum() == 0  # padding untouched
    noise.stop()
    assert torch.equal(embedding(ids), clean)


def _weights(result):
    from safetensors.torch import load_file

    return load_file(str(next((result.bundle_dir / "model").glob("*.safetensors"))))


def test_fgm_changes_training_and_works_with_frozen_embeddings(tiny_model_dir, tmp_path, caplog):
    for name in ("plain", "fgm", "pgd", "freelb"):
        (tmp_path / name).mkdir()
    plain, _ = train_tiny_bundle(tiny_model_dir, tmp_path / "plain", train={"epochs": 1, "batch_size": 8})
    with caplog.at_level("INFO", logger="tuneforge"):
        fgm, _ = train_tiny_bundle(tiny_model_dir, tmp_path / "fgm", train={
            "epochs": 1, "batch_size": 8, "adversarial": {"method": "fgm", "epsilon": 5.0}})
    assert "adversarial training: fgm, epsilon 5" in caplog.text
    a, b = _weights(plain), _weights(fgm)
    changed = [k for k in a if not torch.equal(a[k], b[k])]
    assert changed  # the adversarial gradient moved the weights elsewhere
    for method in ("pgd", "freelb"):  # LoRA: the embeddings are frozen, the perturbation still gets gradients
        result, _ = train_tiny_bundle(tiny_model_dir, tmp_path / method, method={"name": "lora"}, train={
            "epochs": 1, "batch_size": 8, "adversarial": {"method": method, "epsilon": 1.0, "steps": 2}})
        assert result.metrics["accuracy"] >= 0.0 and result.bundle_dir.is_dir()


def test_methods_without_gradient_training_are_refused(tiny_model_dir, tmp_path):
    with pytest.raises(ConfigError, match="train.adversarial needs a method trained by gradient steps"):
        train_tiny_bundle(tiny_model_dir, tmp_path, method={"name": "zero_shot"},
                          train={"adversarial": {"method": "fgm"}})
