"""The causal-LM loss at labelled positions only equals the model's own loss, gradients included."""

from __future__ import annotations

import pytest
import torch

from tuneforge.training.answer_loss import IGNORE, answer_only_loss


@pytest.fixture()
def batch_and_model(tiny_llama_dir):
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(tiny_llama_dir)
    torch.manual_seed(1)
    ids = torch.randint(3, model.config.vocab_size, (3, 12))
    mask = torch.ones_like(ids)
    mask[2, 9:] = 0  # a right-padded row
    labels = ids.clone()
    labels[:, :7] = IGNORE  # the prompt carries no loss
    labels[2, 9:] = IGNORE
    return model, {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _grads(model):
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])


def test_the_answer_only_loss_and_its_gradients_equal_the_models_own(batch_and_model):
    model, batch = batch_and_model
    own = model(**batch).loss
    own.backward()
    expected = _grads(model)
    model.zero_grad()
    ours = answer_only_loss(model, batch)
    ours.backward()
    assert torch.allclose(ours, own, atol=1e-6)
    assert torch.allclose(_grads(model), expected, atol=1e-6)
    items = int((batch["labels"][:, 1:] != IGNORE).sum())
    summed = answer_only_loss(model, batch, num_items_in_batch=torch.tensor(2 * items))
    assert torch.allclose(summed, own / 2, atol=1e-6)  # divided by the items of the whole accumulated batch


def test_models_the_shortcut_cannot_see_through_use_their_own_loss(batch_and_model):
    from peft import PromptTuningConfig, get_peft_model

    model, batch = batch_and_model
    prompt_tuned = get_peft_model(model, PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4))
    assert answer_only_loss(prompt_tuned, batch) is None  # virtual tokens live in PEFT's own forward
    assert answer_only_loss(model, {k: v for k, v in batch.items() if k != "labels"}) is None


def test_lora_models_go_through_the_shortcut(batch_and_model):
    from peft import LoraConfig, get_peft_model

    model, batch = batch_and_model
    lora = get_peft_model(model, LoraConfig(task_type="CAUSAL_LM", r=2, target_modules=["q_proj", "v_proj"]))
    assert torch.allclose(answer_only_loss(lora, batch), lora(**batch).loss, atol=1e-6)
