"""Prompt-based fine-tuning: template + verbalizer scored by the masked-LM head, alone or with LoRA."""

from __future__ import annotations

import json

import pytest
import torch

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.errors import ConfigError
from tuneforge.methods import METHODS, count_parameters
from tuneforge.methods.prompt_based import prompt_spec, wrap_in_template
from tuneforge.predictor import Predictor
from tuneforge.tasks import get_task

VERBALIZER = {"neg": ["awful", "terrible"], "pos": "johnny"}  # "johnny" is three word pieces


def options(**method):
    return build_config({"data": {"train": "-"}, "method": {"name": "prompt", "verbalizer": VERBALIZER, **method}}).method


def built(tiny_model_dir, **method):
    opts = options(**method)
    method_obj = METHODS.get("prompt")()
    built = method_obj.build_model(get_task("classification"), str(tiny_model_dir), ["neg", "pos"], opts)
    return method_obj, method_obj.apply(built.model, opts, get_task("classification")), opts


@pytest.fixture
def tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


def test_spec_gives_each_multi_token_word_its_mask_slots(tokenizer):
    spec = prompt_spec(tokenizer, options(), ["neg", "pos"])
    assert spec["mask_count"] == 3  # j ##oh ##nny -> three masks in the template
    assert spec["suffix_ids"].count(tokenizer.mask_token_id) == 3
    assert [len(words) for words in spec["label_words"]] == [2, 1]
    assert tokenizer.convert_ids_to_tokens(spec["label_words"][1][0]) == tokenizer.tokenize("johnny")


def test_template_wraps_every_row_and_finds_its_masks(tokenizer):
    spec = prompt_spec(tokenizer, options(template="the film : {text} it was [MASK] ."), ["neg", "pos"])
    enc = tokenizer(["a great movie", "bad"], padding=True, return_tensors="pt")
    ids, mask, slots = wrap_in_template(enc["input_ids"], enc["attention_mask"], spec, max_positions=256)
    for row in range(2):
        tokens = tokenizer.convert_ids_to_tokens(ids[row][mask[row].bool()])
        assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and tokens[1:4] == ["the", "film", ":"]
        assert [tokens[i] for i in slots[row]] == ["[MASK]"] * 3
    assert tokenizer.convert_ids_to_tokens(ids[1][mask[1].bool()]) == (
        ["[CLS]", "the", "film", ":", "bad", "it", "was"] + ["[MASK]"] * 3 + [".", "[SEP]"])


def test_label_scores_are_the_mlm_heads_word_log_probabilities(tiny_model_dir, tokenizer):
    _, model, _ = built(tiny_model_dir, template="{text} [MASK]", verbalizer={"neg": "awful", "pos": "great"})
    model.eval()
    enc = tokenizer(["a fun story"], return_tensors="pt")
    logits = model(**enc).logits[0]
    # The same sentence through the plain masked-LM forward: one mask, read the two words' log-probabilities.
    plain = tokenizer(["a fun story [MASK]"], return_tensors="pt")
    with torch.no_grad():
        vocab = model.mlm(**plain).logits[0]
    position = plain["input_ids"][0].tolist().index(tokenizer.mask_token_id)
    log_probs = torch.log_softmax(vocab[position], -1)
    expected = log_probs[tokenizer.convert_tokens_to_ids(["awful", "great"])]
    assert torch.allclose(logits, expected, atol=1e-5)


def test_missing_mlm_head_starts_from_the_embeddings(tmp_path, tiny_model_dir):
    from transformers import AutoModel, AutoTokenizer

    AutoModel.from_pretrained(tiny_model_dir).save_pretrained(tmp_path)  # encoder only, no MLM head
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(tmp_path)
    _, model, _ = built(tmp_path)
    mlm = model.mlm
    transform = mlm.cls.predictions.transform
    assert torch.equal(transform.dense.weight, torch.eye(transform.dense.weight.shape[0]))
    assert torch.count_nonzero(mlm.cls.predictions.bias) == 0
    assert mlm.get_output_embeddings().weight is mlm.get_input_embeddings().weight  # decoder tied


@pytest.mark.parametrize("adapt", [{"name": "full"}, {"name": "lora", "r": 4}, {"name": "bitfit"}])
def test_adapt_method_decides_what_trains_and_merges_exactly(tiny_model_dir, tokenizer, adapt):
    method, model, opts = built(tiny_model_dir, adapt=adapt)
    trainable, total = count_parameters(model)
    assert (trainable == total) == (adapt["name"] == "full")
    enc = tokenizer(["a great movie", "so boring"], padding=True, return_tensors="pt")
    out = model(**enc, labels=torch.tensor([1, 0]))
    out.loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    model.eval()
    expected = model(**enc).logits
    merged = method.merge(model).eval()
    assert type(merged.mlm).__module__.startswith("transformers.")  # the adapt method folded in: a plain masked LM
    assert (merged(**enc).logits - expected).abs().max() < 1e-4


def test_bad_prompt_options_fail_at_load_time(tiny_model_dir):
    with pytest.raises(ConfigError, match="method.adapt.rank"):
        options(adapt={"name": "lora", "rank": 4})
    with pytest.raises(ConfigError, match="method.adapt.name"):
        options(adapt={"name": "setfit"})
    with pytest.raises(ConfigError, match="one \\[MASK\\]"):
        options(template="{text} was good")
    with pytest.raises(ConfigError, match="not in the tokenizer's vocabulary"):
        built(tiny_model_dir, verbalizer={"neg": "zzzqqq€", "pos": "great"})
    with pytest.raises(ConfigError, match="exactly the labels"):
        built(tiny_model_dir, verbalizer={"neg": "awful"})
    assert options(adapt={"name": "adapter"}).merge is False  # adapters cannot fold: the bundle stays unmerged


@pytest.mark.parametrize("adapt", [{"name": "full"}, {"name": "lora", "r": 4, "merge": False}])
def test_prompt_bundle_predicts_and_evaluates_after_reload(tiny_config, adapt):
    tiny_config["method"] = {"name": "prompt", "template": "{text} it was [MASK] .",
                             "verbalizer": {"negative": "awful", "positive": "great"}, "adapt": adapt}
    tiny_config["train"]["epochs"] = 3
    result = api.train(build_config(tiny_config))
    manifest = json.loads((result.bundle_dir / "tuneforge.json").read_text())
    assert manifest["method"]["merged"] == (adapt["name"] == "full")
    reloaded = Predictor.load(result.bundle_dir)
    texts = ["a great movie", "so boring"]
    for a, b in zip(reloaded.predict_texts(texts), result.predictor.predict_texts(texts)):
        assert a["label"] == b["label"] and a["scores"] == pytest.approx(b["scores"], abs=1e-5)
    assert set(reloaded.predict_texts(texts)[0]["scores"]) == {"negative", "positive"}
