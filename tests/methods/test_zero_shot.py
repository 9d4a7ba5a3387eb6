"""Zero-shot classification by label descriptions: no training, a bundle like any other."""

from __future__ import annotations

import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.errors import ConfigError
from tuneforge.predictor import Predictor


def zero_shot_config(tiny_config, **method):
    tiny_config["method"] = {"name": "zero_shot", **method}
    return build_config(tiny_config)


def test_descriptions_decide_the_label(tiny_config):
    # A text identical to one label's description has cosine similarity 1 with it.
    descriptions = {"positive": "wonderful music", "negative": "terrible music"}
    result = api.train(zero_shot_config(tiny_config, label_descriptions=descriptions))
    predictions = result.predictor.predict_texts(["wonderful music", "terrible music"])
    assert [p["label"] for p in predictions] == ["positive", "negative"]
    assert predictions[0]["score"] > 0.5
    manifest = result.predictor.manifest.method
    assert manifest.trainable_parameters == 0
    assert manifest.label_descriptions == descriptions
    assert "label descriptions" in (result.run_dir / "report.md").read_text()


def test_template_and_reload(tiny_config):
    result = api.train(zero_shot_config(tiny_config, template="this film is {description}"))
    assert result.predictor.manifest.method.label_descriptions["positive"] == "this film is positive"
    texts = ["a great movie", "so boring"]
    reloaded = Predictor.load(result.bundle_dir)
    for a, b in zip(reloaded.predict_texts(texts), result.predictor.predict_texts(texts)):
        assert a["scores"] == pytest.approx(b["scores"], abs=1e-5)


def test_unknown_label_in_descriptions_fails_before_anything_runs(tiny_config):
    with pytest.raises(ConfigError, match="unknown labels \\['neutral'\\]"):
        api.train(zero_shot_config(tiny_config, label_descriptions={"neutral": "meh"}))


def test_zero_shot_is_for_classification(tiny_config, conll_file):
    tiny_config["data"] = {"train": str(conll_file), "split": {"validation": 0.25, "test": 0.25, "seed": 0}}
    tiny_config["task"] = {"type": "token_classification"}
    with pytest.raises(ConfigError, match="method zero_shot needs single-classification into one label per text"):
        api.train(zero_shot_config(tiny_config))


@pytest.fixture(scope="module")
def tiny_nli_dir(tmp_path_factory, tiny_model_dir):
    """A random 3-way NLI cross-encoder on the tiny BERT (labels as NLI models name them)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = tmp_path_factory.mktemp("tiny-nli")
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_model_dir, num_labels=3, id2label={0: "contradiction", 1: "neutral", 2: "entailment"},
        label2id={"contradiction": 0, "neutral": 1, "entailment": 2})
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(folder)
    return folder


def test_nli_scores_are_entailment_logits_of_text_hypothesis_pairs(tiny_config, tiny_nli_dir):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    result = api.train(zero_shot_config(tiny_config, nli_model=str(tiny_nli_dir),
                                        label_descriptions={"positive": "great", "negative": "awful"}))
    manifest = result.predictor.manifest.method
    assert manifest.label_descriptions == {"negative": "This example is awful.", "positive": "This example is great."}
    nli = AutoModelForSequenceClassification.from_pretrained(tiny_nli_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(tiny_nli_dir)
    texts = ["a great movie", "i hate this film"]
    predictions = Predictor.load(result.bundle_dir).predict_texts(texts)
    for text, prediction in zip(texts, predictions):
        pairs = tokenizer([text, text], ["This example is awful.", "This example is great."], padding=True,
                          return_tensors="pt")
        with torch.no_grad():
            entailment = nli(**pairs).logits[:, 2]  # (labels,) in label order: negative, positive
        expected = torch.softmax(entailment, -1).tolist()
        assert [prediction["scores"]["negative"], prediction["scores"]["positive"]] == pytest.approx(expected, abs=1e-5)


def test_nli_model_without_entailment_label_is_refused(tiny_config, tiny_model_dir):
    with pytest.raises(ConfigError, match="entailment"):
        api.train(zero_shot_config(tiny_config, nli_model=str(tiny_model_dir)))
