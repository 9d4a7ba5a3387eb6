"""Augmentation: EDA operations, synonyms from a file or the backbone's embeddings, entity mentions
with aligned tags, only the training split grows, and the ``data augment`` command."""

from __future__ import annotations

import json
import random

import pytest
import yaml
from typer.testing import CliRunner

from tuneforge.cli import app
from tuneforge.data.augment import (
    AugmentSettings,
    EmbeddingSynonyms,
    FileSynonyms,
    augment_examples,
    augment_text,
    random_deletion,
    random_swap,
)
from tuneforge.errors import ConfigError

from ..conftest import assert_one_error, write_jsonl


@pytest.fixture
def synonyms(tmp_path):
    path = tmp_path / "synonyms.txt"
    path.write_text("# word: synonyms\ngreat: superb, terrific\nmovie: film\nawful\tdreadful\n", encoding="utf-8")
    return FileSynonyms(path)


def test_each_operation_changes_the_text_as_eda_says(synonyms):
    rng = random.Random(0)
    text = "What a great movie this was"
    replaced = augment_text(text, "synonym", 0.4, synonyms, rng)
    assert replaced != text and len(replaced.split()) == 6
    assert set(replaced.split()) - set(text.split()) <= {"superb", "terrific", "film"}
    assert replaced.split()[0] == "What"
    inserted = augment_text(text, "insert", 0.2, synonyms, rng).split()
    assert len(inserted) == 7 and set(inserted) - set(text.split()) <= {"superb", "terrific", "film"}
    swapped = random_swap(text.split(), 2, rng)
    assert sorted(swapped) == sorted(text.split())
    assert random_deletion(["only"], 0.9, rng) == ["only"]
    assert 1 <= len(random_deletion(text.split(), 0.5, rng)) <= 6


def test_copies_are_added_to_the_end_tagged_and_reproducible(synonyms):
    train = [{"text": f"a great movie number {i}", "label": "pos", "where": f"f line {i}"} for i in range(10)]
    settings = AugmentSettings(factor=3, operations=["synonym", "swap", "delete", "insert"])
    first = augment_examples(list(train), settings, synonyms, seed=5)
    again = augment_examples(list(train), settings, synonyms, seed=5)
    assert first == again and first[:10] == train
    added = first[10:]
    assert 10 < len(added) <= 30
    assert all(e["augmented"] in settings.operations and "(augmented: " in e["where"] and e["label"] == "pos"
               for e in added)
    assert all(e["text"] != train[int(e["where"].split()[2])]["text"] for e in added)


def test_entity_mentions_are_swapped_with_tags_aligned(synonyms):
    train = [{"tokens": ["John", "lives", "in", "New", "York"], "tags": ["B-PER", "O", "O", "B-LOC", "I-LOC"]},
             {"tokens": ["Mary", "Ann", "visited", "Paris"], "tags": ["B-PER", "I-PER", "O", "B-LOC"]}]
    out = augment_examples(train, AugmentSettings(factor=4, operations=["mention"]), synonyms, seed=1)
    assert len(out) > 2
    for e in out[2:]:
        assert len(e["tokens"]) == len(e["tags"])
        assert e["tags"][0] == "B-PER" and e["tags"][-1] in ("B-LOC", "I-LOC")
        person = e["tokens"][:e["tags"].index("O")]
        assert person in (["John"], ["Mary", "Ann"]) and e["tags"][1:len(person)] == ["I-PER"] * (len(person) - 1)
    with pytest.raises(ConfigError, match="'swap' does not apply to entity data"):
        augment_examples(train, AugmentSettings(operations=["swap"]), synonyms)


def test_backbone_neighbours_are_words_not_variants():
    from tuneforge.backbone import resolve_backbone

    neighbours = EmbeddingSynonyms(resolve_backbone("default"))
    found = neighbours("terrible")
    assert found and all(w.isalpha() and not w.startswith("terrib") for w in found)
    assert neighbours("the") == [] and neighbours("zzqxj") == []


def test_training_grows_only_the_training_split(tiny_config, tmp_path, synonyms, caplog):
    import logging

    from tuneforge import api
    from tuneforge.config import build_config

    (tmp_path / "syn.txt").write_text("great: superb\nmovie: film\nawful: dreadful\n", encoding="utf-8")
    tiny_config["data"]["augment"] = {"factor": 2, "synonyms": str(tmp_path / "syn.txt")}
    tiny_config["train"]["epochs"] = 1
    with caplog.at_level(logging.INFO, logger="tuneforge"):
        result = api.train(build_config(tiny_config))
    assert "data.augment: " in caplog.text and "augmented training examples from 12" in caplog.text
    assert "data: " in caplog.text and "6 validation, 6 test examples" in caplog.text
    assert result.metrics


def test_the_augment_command_writes_splits_and_a_config(tiny_config, tmp_path):
    (tmp_path / "syn.txt").write_text("great: superb\nmovie: film\n", encoding="utf-8")
    tiny_config["data"]["augment"] = {"factor": 1, "synonyms": str(tmp_path / "syn.txt"), "operations": ["swap"]}
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(tiny_config), encoding="utf-8")
    result = CliRunner().invoke(app, ["data", "augment", str(config), "--factor", "2", "-o", str(tmp_path / "aug")])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "aug" / "train.jsonl").read_text().splitlines()]
    assert 12 < len(rows) <= 36 and sum("augmented" in r for r in rows) == len(rows) - 12
    assert len((tmp_path / "aug" / "validation.jsonl").read_text().splitlines()) == 6
    written = yaml.safe_load((tmp_path / "aug" / "config.yaml").read_text())
    assert written["data"]["train"].endswith("train.jsonl") and written["data"]["augment"] is None
    bad = tmp_path / "bad.yaml"
    tiny_config["data"]["augment"]["operations"] = ["mention"]
    bad.write_text(yaml.safe_dump(tiny_config), encoding="utf-8")
    assert_one_error(CliRunner().invoke(app, ["data", "augment", str(bad)]), "'mention' does not apply to text data")


def test_the_mask_command_masks_text_columns_and_keeps_the_original(tmp_path):
    pytest.importorskip("presidio_analyzer")
    source = write_jsonl(tmp_path / "tickets.jsonl", [
        {"id": 7, "text": "mail me at ann@example.com", "label": "x"},
        {"id": 8, "text": "card 4111 1111 1111 1111 was charged twice", "label": "y"}])
    before = source.read_bytes()
    result = CliRunner().invoke(app, ["data", "mask", str(source)])
    assert result.exit_code == 0, result.output
    assert source.read_bytes() == before
    rows = [json.loads(line) for line in (tmp_path / "tickets.masked.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == ["mail me at <EMAIL>", "card <CREDIT_CARD> was charged twice"]
    assert rows[0]["id"] == 7 and "credit_card 1, email 1" in result.output
    assert_one_error(CliRunner().invoke(app, ["data", "mask", str(source), "-t", "person"]), "entity-tagging bundle")
    assert_one_error(CliRunner().invoke(app, ["data", "mask", str(source), "-o", str(source)]), "never overwrites")


def test_paraphrases_are_generated_filtered_and_tagged(tiny_llama_dir, tiny_model_dir, tiny_decoder_dir):
    from tuneforge.data.paraphrase import paraphrase_examples, paraphrase_texts

    texts = ["a great movie", "so boring"]
    rewrites = paraphrase_texts(texts, str(tiny_llama_dir), copies=2, seed=0)
    assert len(rewrites) == 2 and all(r and all(x.strip() and x != t for x in r) for r, t in zip(rewrites, texts))
    assert paraphrase_texts(texts, str(tiny_llama_dir), copies=2, seed=0) == rewrites  # seeded
    train = [{"text": t, "label": label, "where": f"f line {i}"} for i, (t, label) in enumerate(zip(texts, "pn"))]
    kept = paraphrase_examples(train, str(tiny_llama_dir), str(tiny_model_dir), copies=2, min_similarity=0.0)
    assert len(kept) == sum(map(len, rewrites))
    assert all(k["augmented"] == "paraphrase" and k["label"] in "pn" and "(augmented: paraphrase)" in k["where"]
               for k in kept)
    assert paraphrase_examples(train, str(tiny_llama_dir), str(tiny_model_dir), min_similarity=0.9999) == []
    with pytest.raises(ConfigError, match="chat template"):
        paraphrase_texts(texts, str(tiny_decoder_dir))


def test_the_mask_command_keeps_tsv_as_tsv_and_refuses_unknown_columns(tmp_path):
    pytest.importorskip("presidio_analyzer")
    source = tmp_path / "t.tsv"
    source.write_text('id\ttext\n1\tmail ann@example.com "quoted"\n2\tcall +44 20 7946 0958\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["data", "mask", str(source)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t.masked.tsv").read_text() == 'id\ttext\n1\tmail <EMAIL> "quoted"\n2\tcall <PHONE>\n'
    assert_one_error(CliRunner().invoke(app, ["data", "mask", str(source), "-c", "nope"]), "column 'nope' not found")
