"""tuneforge init: a starter config sized to the data, for each kind of data file, that trains without edits."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tuneforge import api
from tuneforge.config import load_config
from tuneforge.data.profile import profile_file
from tuneforge.errors import ConfigError, DataError
from tuneforge.starter_config import starter_config, write_starter_config

from .conftest import NEGATIVE, POSITIVE, ROOT, write_csv, write_jsonl

DEMO = ROOT / "examples" / "support_tickets.csv"


def int_labels(folder):
    rows = [{"review": text, "stars": stars} for i in range(4)
            for stars, texts in ((5, POSITIVE), (1, NEGATIVE), (3, ["it was fine", "an average film", "so so"]))
            for text in texts]
    return write_jsonl(folder / "stars.jsonl", rows)


def multi_label(folder):
    rows = [{"text": f"{text} {i}", "tags": "good|music" if "music" in text else "good"} for i in range(4)
            for text in POSITIVE]
    rows += [{"text": f"{text} {i}", "tags": "bad|music" if "music" in text else "bad"} for i in range(4)
             for text in NEGATIVE]
    return write_csv(folder / "tags.csv", rows)


def conll(folder):
    sentences = [[("john", "B-PER"), ("lives", "O"), ("in", "O"), ("paris", "B-LOC")],
                 [("mary", "B-PER"), ("visited", "O"), ("london", "B-LOC"), ("today", "O")],
                 [("the", "O"), ("film", "O"), ("was", "O"), ("great", "O")]]
    text = "\n\n".join("\n".join(f"{w} {t}" for w, t in s) for s in sentences * 20)
    path = folder / "ner.txt"
    path.write_text(text + "\n")
    return path


def test_the_profile_finds_text_label_pairs_and_several_labels(tmp_path):
    demo = profile_file(DEMO)
    assert (demo.format, demo.n_rows, demo.text_column(), demo.label_column()) == ("csv", 360, "text", "label")
    stars = profile_file(int_labels(tmp_path))
    assert (stars.text_column(), stars.label_column(exclude=("review",))) == ("review", "stars")
    assert stars.label_lists("stars") is None and stars.numbers("stars")
    assert profile_file(multi_label(tmp_path)).label_lists("tags") == "|"
    lists = write_jsonl(tmp_path / "l.jsonl", [{"body": "a b", "y": ["x", "z"]}, {"body": "c d", "y": ["x"]}])
    assert profile_file(lists).label_lists("y") == "list"
    pairs = write_csv(tmp_path / "p.csv", [{"premise": f"a{i}", "hypothesis": f"b{i}", "gold": i % 2} for i in range(9)])
    assert profile_file(pairs).pair_columns() == ("premise", "hypothesis")
    odd = write_csv(tmp_path / "odd.csv", [{"id": i, "words": f"some longer text number {i}", "cls": "ab"[i % 2]}
                                           for i in range(10)])
    guess = profile_file(odd)
    assert (guess.text_column(), guess.label_column(exclude=("words",))) == ("words", "cls")
    assert profile_file(conll(tmp_path)).format == "conll"  # a .txt file whose lines are 'token TAG'
    with pytest.raises(DataError, match="give --format"):
        profile_file(write_csv(tmp_path / "x.csv", [{"a": 1}]).rename(tmp_path / "x.dat"))


def test_each_kind_of_file_gets_its_task_and_a_schedule_sized_to_it(tmp_path):
    cases = {DEMO: "classification", int_labels(tmp_path): "classification", multi_label(tmp_path): "multilabel",
             conll(tmp_path): "token_classification",
             write_csv(tmp_path / "scores.csv", [{"sentence": f"text {i}", "score": i / 37} for i in range(40)]):
                 "regression",
             write_jsonl(tmp_path / "sft.jsonl", [{"instruction": "say hi", "output": "hi"}] * 5): "generation"}
    for path, task in cases.items():
        starter = starter_config(path, config_dir=tmp_path)
        assert starter.task == task, path
        cfg = yaml.safe_load(starter.text)
        assert cfg["task"]["type"] == task
    demo = yaml.safe_load(starter_config(DEMO).text)
    assert demo["method"]["name"] == "setfit"  # 288 training examples: under 500
    assert "SetFit learns from pairs" in starter_config(DEMO).text  # and says why
    ner = yaml.safe_load(starter_config(conll(tmp_path)).text)
    assert ner["method"]["name"] == "full" and ner["data"]["split"]["test"] == 0.25  # 60 sentences: 15 each
    steps = -(-int(60 * 0.5) // ner["train"]["batch_size"]) * ner["train"]["epochs"]
    assert steps >= 50 and ner["train"]["logging_steps"] <= steps // 10
    stars = yaml.safe_load(starter_config(int_labels(tmp_path), config_dir=tmp_path).text)
    assert (stars["data"]["text_column"], stars["data"]["label_column"]) == ("review", "stars")
    assert yaml.safe_load(starter_config(multi_label(tmp_path)).text)["data"]["label_delimiter"] == "|"
    with pytest.raises(ConfigError, match="does not look like task regression"):
        starter_config(DEMO, task="regression")


def test_init_keeps_an_existing_config_and_says_what_to_run(tmp_path):
    data = int_labels(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "tuneforge", "init", str(data)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    written = tmp_path / "stars.yaml"
    assert f"tuneforge train {written}" in proc.stdout and load_config(written).data.text_column == "review"
    again = subprocess.run([sys.executable, "-m", "tuneforge", "init", str(data)], capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 2 and "exists; pass --output OTHER.yaml or --force" in again.stderr


@pytest.mark.parametrize("make", [lambda d: DEMO, int_labels, multi_label, conll], ids=["demo", "stars", "tags", "ner"])
def test_a_starter_config_trains_without_edits(make, tiny_model_dir, tmp_path):
    data = make(tmp_path)
    path, starter = write_starter_config(data, output=tmp_path / "starter.yaml")
    result = api.train(path, [f"model.name={tiny_model_dir}", f"output.dir={tmp_path / 'run'}", "train.report_to=[]"])
    metric = result.predictor.task.default_metric
    assert result.bundle_dir.is_dir() and metric in result.metrics
    if data == DEMO:  # the demo data has enough examples per class to beat the majority class
        assert result.metrics[metric] > result.metrics["baseline"][metric] + 0.1, result.metrics


def test_image_data_gets_an_image_config(tmp_path):
    from PIL import Image

    for label in ("cat", "dog"):
        (tmp_path / "pets" / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(tmp_path / "pets" / label / f"{i}.png")
    starter = starter_config(tmp_path / "pets", config_dir=tmp_path)
    assert starter.task == "image_classification" and starter.profile.n_rows == 6
    assert "6 images (imagefolder)" in starter.text
    assert yaml.safe_load(starter.text)["data"]["train"] == "pets"


def test_a_table_of_image_paths_gets_an_image_config(tmp_path):
    from PIL import Image

    (tmp_path / "img").mkdir()
    rows = []
    for i in range(6):
        Image.new("RGB", (8, 8)).save(tmp_path / "img" / f"{i}.jpg")
        rows.append({"file": f"img/{i}.jpg", "species": "cat" if i % 2 else "dog"})
    starter = starter_config(write_csv(tmp_path / "pets.csv", rows), config_dir=tmp_path)
    settings = yaml.safe_load(starter.text)
    assert starter.task == "image_classification" and settings["task"]["image_column"] == "file"
    assert settings["data"]["label_column"] == "species"


def test_init_never_writes_over_the_data_file(tmp_path):
    data = int_labels(tmp_path)
    before = data.read_bytes()
    for target in (data, tmp_path / "notes.txt"):
        with pytest.raises(ConfigError, match="must be a new .yaml file"):
            write_starter_config(data, output=target, force=True)
    assert data.read_bytes() == before and not (tmp_path / "notes.txt").exists()


def test_sentence_pairs_get_the_pair_column(tmp_path):
    rows = [{"premise": f"a man walks {i}", "hypothesis": f"someone moves {i}", "gold": "yes" if i % 2 else "no"}
            for i in range(20)]
    data = yaml.safe_load(starter_config(write_csv(tmp_path / "pairs.csv", rows)).text)["data"]
    assert (data["text_column"], data["text_pair_column"], data["label_column"]) == ("premise", "hypothesis", "gold")
