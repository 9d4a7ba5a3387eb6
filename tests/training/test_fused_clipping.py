"""Clipping folded into fused AdamW updates the weights as clip_grad_norm_ followed by the step does."""

from __future__ import annotations

import copy

import pytest
import torch

from tuneforge.training.fused_clipping import fold_clipping, fused_clipping


def _pair():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(50, 40), torch.nn.GELU(), torch.nn.Linear(40, 3))
    return model, copy.deepcopy(model)


def test_folded_clipping_steps_like_clip_grad_norm():
    plain, folded = _pair()
    options = dict(lr=1e-2, weight_decay=0.01, fused=True)
    plain_opt, folded_opt = torch.optim.AdamW(plain.parameters(), **options), torch.optim.AdamW(folded.parameters(), **options)
    clipped = 0
    for step in range(12):
        x, y = torch.randn(8, 50) * (10.0 if step % 2 else 0.01), torch.randint(0, 3, (8,))
        for model in (plain, folded):
            torch.nn.functional.cross_entropy(model(x), y).backward()
        expected = torch.nn.utils.clip_grad_norm_(plain.parameters(), 1.0)
        norm = fold_clipping(folded.parameters(), 1.0, folded_opt)
        assert norm.item() == pytest.approx(expected.item(), rel=1e-6)
        clipped += expected.item() > 1.0
        plain_opt.step(), folded_opt.step()
        plain_opt.zero_grad(), folded_opt.zero_grad()
        for a, b in zip(plain.parameters(), folded.parameters()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert 0 < clipped < 12, "both clipped and unclipped steps should occur"


def _train(trainer_class, model_dir, tmp_path, optim):
    from transformers import AutoModelForSequenceClassification, TrainingArguments

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    rows = [{"input_ids": [2, 5 + i % 7, 9 + i % 5, 3], "attention_mask": [1] * 4, "labels": i % 2} for i in range(16)]
    args = TrainingArguments(output_dir=str(tmp_path / optim), per_device_train_batch_size=4, max_steps=6,
                             learning_rate=1e-2, max_grad_norm=0.05, optim=optim, report_to="none", save_strategy="no",
                             disable_tqdm=True, use_cpu=True, seed=0, data_seed=0, logging_strategy="no")
    trainer = trainer_class(model=model, args=args, train_dataset=rows)
    trainer.train()
    return trainer


def test_trainer_with_fused_adamw_folds_and_trains_as_before(tiny_model_dir, tmp_path):
    from transformers import Trainer

    plain = _train(Trainer, tiny_model_dir, tmp_path / "plain", "adamw_torch_fused")
    folded = _train(fused_clipping(Trainer), tiny_model_dir, tmp_path / "folded", "adamw_torch_fused")
    scale = folded.optimizer.optimizer.grad_scale
    assert scale.item() > 1.0  # the last step was clipped, through the optimizer
    assert getattr(plain.optimizer.optimizer, "grad_scale", None) is None
    for (name, a), b in zip(plain.model.named_parameters(), folded.model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=name)
    # another optimizer: Trainer clips as always
    unfused = _train(fused_clipping(Trainer), tiny_model_dir, tmp_path / "unfused", "adamw_torch")
    assert getattr(unfused.optimizer.optimizer, "grad_scale", None) is None
