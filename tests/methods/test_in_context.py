"""In-context few-shot classification on a tiny random decoder built here (no downloads)."""

from __future__ import annotations

import pytest
import torch

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.errors import ConfigError
from tuneforge.fewshot.in_context import InContextClassifier, build_spec
from tuneforge.methods.in_context import draw_demonstrations
from tuneforge.predictor import Predictor

TEMPLATE = "Review: {text}\nSentiment: {label}"


@pytest.fixture
def decoder(tiny_decoder_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_decoder_dir)
    tokenizer.pad_token = tokenizer.eos_token
    return AutoModelForCausalLM.from_pretrained(tiny_decoder_dir).eval(), tokenizer


def classifier(decoder, demonstrations=(("a great movie", "positive"), ("so boring", "negative"))):
    lm, tokenizer = decoder
    words = {"negative": "bad", "positive": "good"}
    spec = build_spec(tokenizer, TEMPLATE, "\n\n", list(demonstrations), words, ["negative", "positive"])
    return InContextClassifier(lm, spec, tokenizer).eval(), tokenizer


def test_prompt_holds_the_demonstrations_then_the_query(decoder):
    model, tokenizer = classifier(decoder)
    assert tokenizer.decode(model.spec["context_ids"]) == (
        "Review: a great movie\nSentiment: good\n\nReview: so boring\nSentiment: bad\n\nReview:")
    prompt = model._prompts_for(["very fun"])[0]
    assert tokenizer.decode(prompt) == tokenizer.decode(model.spec["context_ids"]) + " very fun\nSentiment:"


def test_scores_are_the_label_words_likelihood_after_the_prompt(decoder):
    model, tokenizer = classifier(decoder)
    enc = tokenizer(["very fun", "i hate this film"], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**enc).logits  # no calibration yet: log-softmax of the raw likelihoods
    assert model._cached_context is not None  # the demonstrations ran once; rows reused their cache
    for row, text in enumerate(["very fun", "i hate this film"]):
        prompt = model._prompts_for([text])[0]
        expected = []
        for word in (" bad", " good"):
            word_ids = tokenizer(word, add_special_tokens=False)["input_ids"]
            ids = torch.tensor([prompt + word_ids])
            with torch.no_grad():
                log_probs = torch.log_softmax(model.lm(ids).logits[0], -1)
            expected.append(sum(log_probs[len(prompt) + i - 1, t] for i, t in enumerate(word_ids)))
        assert torch.allclose(logits[row], torch.log_softmax(torch.stack(expected), -1), atol=1e-4)


def test_calibration_makes_the_content_free_input_uniform(decoder):
    model, tokenizer = classifier(decoder)
    with torch.no_grad():
        prior = model.calibrate(["N/A"])
        scores = torch.softmax(model(**tokenizer(["N/A"], return_tensors="pt")).logits, -1)[0]
    assert abs(sum(prior) - 1) < 1e-5 and abs(prior[0] - prior[1]) > 1e-4  # the random model has a bias
    assert torch.allclose(scores, torch.tensor([0.5, 0.5]), atol=1e-4)  # which calibration removes


def test_demonstrations_are_drawn_per_class_and_seeded():
    train = [{"text": f"p{i}", "label": "pos"} for i in range(10)] + [{"text": f"n{i}", "label": "neg"} for i in range(3)]
    drawn = draw_demonstrations(train, 4, seed=1)
    assert sorted(label for _, label in drawn) == ["neg"] * 3 + ["pos"] * 4
    assert drawn == draw_demonstrations(train, 4, seed=1) and drawn != draw_demonstrations(train, 4, seed=2)


def test_in_context_from_the_api_gives_a_bundle_that_reloads(tiny_config, tiny_decoder_dir):
    tiny_config["model"]["name"] = str(tiny_decoder_dir)
    tiny_config["method"] = {"name": "in_context", "template": TEMPLATE, "shots_per_class": 2,
                             "verbalizer": {"negative": "bad", "positive": "good"}}
    result = api.train(build_config(tiny_config))
    manifest = result.predictor.manifest.method
    assert manifest.trainable_parameters == 0 and manifest.demonstrations == 4
    assert set(manifest.calibration_prior) == {"negative", "positive"}
    reloaded = Predictor.load(result.bundle_dir, precision="fp32")  # both in fp32: the same numbers on every CPU
    result.predictor.precision = reloaded.precision
    texts = ["a great movie", "so boring", "terrible music"]
    for a, b in zip(reloaded.predict_texts(texts), result.predictor.predict_texts(texts)):
        assert a["label"] == b["label"] and a["scores"] == pytest.approx(b["scores"], abs=1e-5)
    metrics, _ = reloaded.evaluate([{"text": "a great movie", "label": "positive"}])
    assert metrics["accuracy"] in (0.0, 1.0)
    log = (result.run_dir / "train.log").read_text()
    assert "in_context built its model in" in log and "0 steps" not in log  # the summary counts what happened


def test_in_context_refuses_an_encoder(tiny_config):
    tiny_config["method"] = {"name": "in_context"}
    with pytest.raises(ConfigError, match="causal"):
        api.train(build_config(tiny_config))
