"""Dropout from 64-bit random words: its distribution, gradient, attention path and undoing."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from tuneforge.training import mask_dropout as md


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_every_position_of_a_word_keeps_with_probability_one_minus_p(p):
    torch.manual_seed(0)
    keep = md.keep_mask((1000, 1000), p)
    assert keep.dtype == torch.bool and keep.shape == (1000, 1000)
    by_position = keep.flatten().view(-1, 4).float().mean(dim=0)  # each of the four 16-bit parts of a word
    assert torch.allclose(by_position, torch.full((4,), 1 - p), atol=0.004), by_position


def test_the_mask_follows_the_seed_and_odd_sizes_work():
    torch.manual_seed(3)
    first = md.keep_mask((7, 5, 3), 0.2)
    torch.manual_seed(3)
    assert torch.equal(first, md.keep_mask((7, 5, 3), 0.2))
    assert not torch.equal(first, md.keep_mask((7, 5, 3), 0.2))


def test_kept_elements_are_scaled_and_the_gradient_is_masked_alike():
    torch.manual_seed(0)
    x = torch.full((200, 300), 2.0, requires_grad=True)
    y = md.drop(x, 0.25)
    kept = y != 0
    assert torch.allclose(y[kept], torch.tensor(2.0 / 0.75))
    assert abs(kept.float().mean().item() - 0.75) < 0.01
    y.sum().backward()
    assert torch.equal(x.grad, kept.float() / 0.75)
    assert md.drop(x, 0.25, training=False) is x


def test_a_model_gets_mask_dropout_and_evaluates_exactly_as_before(tiny_model_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2).eval()
    ids = torch.randint(5, 40, (3, 9))
    mask = torch.ones_like(ids)
    mask[1, 6:] = 0
    before = model(input_ids=ids, attention_mask=mask).logits
    md.mask_dropout(model)
    assert model.config._attn_implementation == md.ATTENTION
    assert not any(type(m) is nn.Dropout for m in model.modules())
    assert any(isinstance(m, md.MaskDropout) for m in model.modules())
    assert torch.equal(model(input_ids=ids, attention_mask=mask).logits, before)
    model.train()
    torch.manual_seed(1)
    first = model(input_ids=ids, attention_mask=mask).logits
    torch.manual_seed(1)
    assert torch.equal(first, model(input_ids=ids, attention_mask=mask).logits)  # reproducible
    assert not torch.allclose(first, before)  # and dropping
    md.plain_dropout(model)
    assert model.config._attn_implementation == "sdpa"
    assert not any(isinstance(m, md.MaskDropout) for m in model.modules())
    model.save_pretrained(tmp_path / "saved")
    assert md.ATTENTION not in json.dumps(json.loads((tmp_path / "saved" / "config.json").read_text()))


def test_the_attention_path_computes_what_sdpa_computes_when_nothing_is_dropped(monkeypatch):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    torch.manual_seed(0)
    module = nn.Module()
    module.is_causal = False
    q, k, v = (torch.randn(2, 3, 6, 8) for _ in range(3))
    attend = torch.ones(2, 1, 6, 6, dtype=torch.bool)
    attend[0, :, :, 4:] = False  # padding in the first sequence
    expected, _ = sdpa_attention_forward(module.eval(), q, k, v, attend, dropout=0.0)
    monkeypatch.setattr(md, "drop", lambda x, p, training=True: x)
    got, _ = md.sdpa_with_mask_dropout(module.train(), q, k, v, attend, dropout=0.1)
    assert got.shape == expected.shape == (2, 6, 3, 8)
    assert torch.allclose(got, expected, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 inputs are computed in fp32, returned in bf16
        low, _ = md.sdpa_with_mask_dropout(module.train(), q.bfloat16(), k.bfloat16(), v.bfloat16(), attend,
                                           dropout=0.1)
    assert low.dtype == torch.bfloat16 and torch.allclose(low.float(), expected, atol=0.03)
    monkeypatch.undo()
    dropped, _ = md.sdpa_with_mask_dropout(module.train(), q, k, v, attend, dropout=0.5)
    assert not torch.allclose(dropped, expected, atol=1e-3)


def test_a_run_with_mask_dropout_trains_with_it_and_saves_a_plain_model(tiny_model_dir, tmp_path, monkeypatch):
    from tuneforge.predictor import Predictor

    from ..conftest import train_tiny_bundle

    seen = []
    original = md.mask_dropout
    monkeypatch.setattr(md, "mask_dropout", lambda model: seen.append(original(model)) or seen[-1])
    result, _ = train_tiny_bundle(tiny_model_dir, tmp_path, train={"epochs": 2, "batch_size": 8, "mask_dropout": True,
                                                                   "precision": "fp32"})
    assert len(seen) == 1  # training ran with it
    config = json.loads((result.bundle_dir / "model" / "config.json").read_text())
    assert md.ATTENTION not in json.dumps(config)
    predictor = Predictor.load(result.bundle_dir)
    assert not any(isinstance(m, md.MaskDropout) for m in predictor.model.modules())
    assert predictor.predict_texts(["a fun movie"])[0]["label"] in ("positive", "negative")


def test_a_model_under_peft_is_switched_and_switched_back(tiny_model_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    base = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    model = get_peft_model(base, LoraConfig(r=2, lora_dropout=0.1, target_modules=["query", "value"], task_type="SEQ_CLS"))
    md.mask_dropout(model)
    assert base.config._attn_implementation == md.ATTENTION
    assert not any(type(m) is nn.Dropout for m in model.modules())  # LoRA's own dropout modules too
    md.plain_dropout(model)
    assert base.config._attn_implementation == "sdpa"
    assert not any(isinstance(m, md.MaskDropout) for m in model.modules())
