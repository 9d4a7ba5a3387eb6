"""Entity tagging: sub-word alignment, spans, and a run on the tiny model."""

from __future__ import annotations

import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.predictor import Predictor
from tuneforge.tasks import get_task
from tuneforge.tasks.token_classification import IGNORE, join_words, split_words, word_tags_to_entities


def test_labels_go_on_first_sub_token_only(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    task = get_task("token_classification")
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    example = {"tokens": ["johnny", "lives", "in", "paris"], "tags": ["B-PER", "O", "O", "B-LOC"]}
    dataset = task.encode([example], tokenizer, names, max_length=32)
    ids, labels = dataset[0]["input_ids"], dataset[0]["labels"]
    encoded = tokenizer(example["tokens"], is_split_into_words=True)
    word_ids = encoded.word_ids()
    assert len(word_ids) > len(example["tokens"]) + 2  # "johnny" splits into pieces
    seen = set()
    for position, word in enumerate(word_ids):
        if word is None or word in seen:
            assert labels[position] == IGNORE
        else:
            seen.add(word)
            assert names[labels[position]] == example["tags"][word]
    assert len(ids) == len(labels)


def test_split_words_and_spans():
    words, spans = split_words("Anna Smith visited New York, didn't she?")
    assert words == ["Anna", "Smith", "visited", "New", "York", ",", "didn't", "she", "?"]
    assert spans[3] == (19, 22)  # "New" in "Anna Smith visited New York"
    text, joined = join_words(["EU", "rejects", "German"])
    assert text == "EU rejects German" and joined[2] == (11, 17)


def test_entities_from_tags_have_character_spans():
    text = "Anna Smith visited New York ."
    words, spans = split_words(text)
    tags = ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]
    entities = word_tags_to_entities(words, spans, tags, [0.9, 0.7, 1, 0.8, 0.6, 1], text)
    assert [(e["text"], e["type"]) for e in entities] == [("Anna Smith", "PER"), ("New York", "LOC")]
    assert text[entities[1]["start"]:entities[1]["end"]] == "New York"
    assert entities[0]["score"] == pytest.approx(0.8)


def test_ner_run_and_bundle(tiny_config, conll_file):
    tiny_config["data"] = {"train": str(conll_file), "split": {"validation": 0.25, "test": 0.25, "seed": 0}}
    tiny_config["task"] = {"type": "token_classification"}
    tiny_config["train"].update(epochs=3)
    result = api.train(build_config(tiny_config))
    assert result.predictor.label_names[0] == "O"
    assert {"precision", "recall", "f1", "per_class", "token_accuracy"} <= set(result.metrics)
    sentences = [{"tokens": ["mary", "lives", "in", "berlin"]}, {"text": "John works at Google in Paris."}]
    in_memory = result.predictor.predict(sentences)
    reloaded = Predictor.load(result.bundle_dir).predict(sentences)
    assert [p["tags"] for p in in_memory] == [p["tags"] for p in reloaded]
    assert len(reloaded[1]["tags"]) == len(split_words(sentences[1]["text"])[0])
    for entity in reloaded[1]["entities"]:
        assert sentences[1]["text"][entity["start"]:entity["end"]] == entity["text"]
    metrics = api.evaluate(result.bundle_dir, conll_file)
    assert metrics["n"] == 12 and 0 <= metrics["f1"] <= 1


def test_truncated_words_are_tagged_o(tiny_model_dir):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    names = ["O", "B-PER", "I-PER"]
    model = AutoModelForTokenClassification.from_pretrained(tiny_model_dir, num_labels=3)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    words = ["john"] * 40
    out = get_task("token_classification").predict(model, tokenizer, [{"tokens": words}], names, max_length=16)
    assert len(out[0]["tags"]) == 40
    assert out[0]["tags"][20:] == ["O"] * 20
