"""The embedding classifier: mean pooling over real tokens, and a safetensors round trip."""

from __future__ import annotations

import torch

from tuneforge.fewshot.embedding_classifier import HEAD_FILE, EmbeddingClassifier, encode_texts, mean_pool


def test_mean_pool_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # (1, 3, 2); last position is padding
    mask = torch.tensor([[1, 1, 0]])
    assert torch.equal(mean_pool(hidden, mask), torch.tensor([[2.0, 3.0]]))


def test_embeddings_are_unit_length_and_padding_free(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = EmbeddingClassifier.from_backbone(str(tiny_model_dir), num_labels=2).eval()
    alone = encode_texts(model, tokenizer, ["a great movie"], max_length=32)
    batched = encode_texts(model, tokenizer, ["a great movie", "the actors were awful and the plot was dull"], 32)
    assert torch.allclose(alone.norm(dim=-1), torch.ones(1), atol=1e-5)
    assert torch.allclose(alone[0], batched[0], atol=1e-5)  # padding in a batch changes nothing


def test_save_and_reload_give_the_same_logits(tiny_model_dir, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = EmbeddingClassifier.from_backbone(str(tiny_model_dir), num_labels=3).eval()
    model.set_head(torch.randn(3, model.config.hidden_size), torch.randn(3))
    inputs = tokenizer(["so boring", "i love this movie"], padding=True, return_tensors="pt")
    expected = model(**inputs).logits
    model.save_pretrained(tmp_path)
    assert (tmp_path / HEAD_FILE).is_file() and (tmp_path / "model.safetensors").is_file()
    reloaded = EmbeddingClassifier.from_pretrained(tmp_path)
    assert torch.allclose(reloaded(**inputs).logits, expected, atol=1e-6)
