"""Every kind of bad input ends in one clear line naming file, line and problem, exit status 2."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from tuneforge.cli import app

from ..conftest import write_csv

runner = CliRunner()


def run_train(tmp_path, data: dict, task: str = "classification"):
    config = {"data": data, "task": {"type": task}, "model": {"name": "default"},
              "output": {"dir": str(tmp_path / "run")}}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config))
    return runner.invoke(app, ["train", str(path)])


def assert_clean_failure(result, *fragments):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert text.startswith("error:"), text
    for fragment in fragments:
        assert fragment in text, (fragment, text)


def rows(n=6):
    return [{"text": f"text number {i}", "label": "a" if i % 2 else "b"} for i in range(n)]


def test_missing_file(tmp_path):
    result = run_train(tmp_path, {"train": str(tmp_path / "absent.csv")})
    assert_clean_failure(result, "absent.csv", "file not found")


def test_missing_column(tmp_path):
    path = write_csv(tmp_path / "d.csv", [{"sentence": "hello", "label": "a"}])
    result = run_train(tmp_path, {"train": str(path)})
    assert_clean_failure(result, "d.csv", "column 'text' not found", "sentence, label")


def test_empty_text(tmp_path):
    data = rows()
    data[3]["text"] = "   "
    path = write_csv(tmp_path / "d.csv", data)
    result = run_train(tmp_path, {"train": str(path)})
    assert_clean_failure(result, "d.csv line 5", "empty text in column 'text'")


def test_label_unseen_in_training(tmp_path):
    train = write_csv(tmp_path / "train.csv", rows())
    dev_rows = rows(4)
    dev_rows[2]["label"] = "c"
    dev = write_csv(tmp_path / "dev.csv", dev_rows)
    result = run_train(tmp_path, {"train": str(train), "validation": str(dev)})
    assert_clean_failure(result, "dev.csv line 4", "label 'c'", "never appears in the training data")


def test_malformed_conll_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("John B-PER\nlives O\nParis\n\nok O\n", encoding="utf-8")
    result = run_train(tmp_path, {"train": str(path)}, task="token_classification")
    assert_clean_failure(result, "bad.conll line 3", "expected 'token TAG'", "'Paris'")


def test_bad_conll_tag(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("John PERSON\n", encoding="utf-8")
    result = run_train(tmp_path, {"train": str(path)}, task="token_classification")
    assert_clean_failure(result, "bad.conll line 1", "'PERSON' is not an IOB tag")


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,label\nfine,a\ncaf\xe9 au lait,b\n".encode("latin-1"))
    result = run_train(tmp_path, {"train": str(path)})
    assert_clean_failure(result, "latin1.csv line 3", "0xe9", "not valid UTF-8")


def test_empty_data_set(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("text,label\n", encoding="utf-8")
    result = run_train(tmp_path, {"train": str(path)})
    assert_clean_failure(result, "empty.csv", "no examples found")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.tsv"
    path.write_text("", encoding="utf-8")
    result = run_train(tmp_path, {"train": str(path)})
    assert_clean_failure(result, "empty.tsv", "empty")


def test_wrong_field_count(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\nhello,a\nhi,b,extra\n", encoding="utf-8")
    result = run_train(tmp_path, {"train": str(path)})
    assert_clean_failure(result, "d.csv line 3", "expected 2 fields", "found 3")


def test_bad_jsonl(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", label}\n', encoding="utf-8")
    result = run_train(tmp_path, {"train": str(path)})
    assert_clean_failure(result, "d.jsonl line 2", "invalid JSON")


def test_unknown_extension(tmp_path):
    path = tmp_path / "d.xlsx"
    path.write_text("whatever", encoding="utf-8")
    result = run_train(tmp_path, {"train": str(path)})
    assert_clean_failure(result, "d.xlsx", "data.format")


@pytest.fixture(scope="module")
def tiny_bundle(tiny_model_dir, tmp_path_factory):
    """A bundle of the tiny model, for the tests that feed bad input to predict and evaluate."""
    from ..conftest import train_tiny_bundle

    return train_tiny_bundle(tiny_model_dir, tmp_path_factory.mktemp("bad-input"))[0].bundle_dir


def test_unknown_extension_on_evaluate_names_the_flag(tiny_bundle, tmp_path):
    path = tmp_path / "new.dat"
    path.write_text("text,label\ngood,positive\n", encoding="utf-8")
    result = runner.invoke(app, ["evaluate", str(tiny_bundle), "--data", str(path)])
    assert_clean_failure(result, "new.dat", "--format")
    assert "data.format" not in result.output


def test_unknown_config_key_on_cli(tmp_path):
    path = write_csv(tmp_path / "d.csv", rows())
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump({"data": {"train": str(path)}}))
    result = runner.invoke(app, ["train", str(config), "train.epoch=2"])
    assert_clean_failure(result, "unknown key 'train.epoch'", "epochs")


def test_lone_surrogate_in_jsonl_training_data(tmp_path):
    """Finding 9: a JSON-escaped lone surrogate in a data file gave a traceback from the tokenizer."""
    lines = [json.dumps({"text": f"text number {i}", "label": "a" if i % 2 else "b"}) for i in range(8)]
    lines[4] = '{"text": "broken \\udc80 text", "label": "a"}'
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_train(tmp_path, {"train": str(path)})
    assert_clean_failure(result, "d.jsonl line 5", "unpaired surrogate (U+DC80)")


def test_infinite_epochs(tmp_path):
    """Finding 9: train.epochs: .inf gave an OverflowError traceback."""
    path = write_csv(tmp_path / "d.csv", rows())
    config = tmp_path / "cfg.yaml"
    config.write_text(f"data: {{train: {path}}}\ntrain: {{epochs: .inf}}\n")
    assert_clean_failure(runner.invoke(app, ["train", str(config)]), "train.epochs", "finite")


def test_yaml_alias_bomb_gets_a_short_error(tmp_path):
    """Finding 10: an alias bomb printed a 5 MB error line."""
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    lines.append("data: {train: *i}")
    config = tmp_path / "bomb.yaml"
    config.write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["train", str(config)])
    assert_clean_failure(result, "expands to more than")
    assert len(result.output) < 1000


def test_missing_looking_labels_are_warned_about(tmp_path, caplog):
    """Finding 10: labels such as "NaN" silently became a class."""
    from tuneforge.config import build_config
    from tuneforge.data import load_splits
    from tuneforge.tasks import get_task

    data = rows(12)
    data[2]["label"] = data[5]["label"] = data[8]["label"] = "NaN"
    path = write_csv(tmp_path / "d.csv", data)
    load_splits(build_config({"data": {"train": str(path)}}).data, get_task("classification"))
    assert "3 examples have the label 'NaN', which looks like a missing value" in caplog.text
    assert "d.csv line 4" in caplog.text


def test_a_class_too_small_to_split_is_refused(tmp_path):
    """Finding 10: a class with one example silently became a class (and could land in test only)."""
    data = rows(12)
    data[7]["label"] = "c"
    path = write_csv(tmp_path / "d.csv", data)
    result = run_train(tmp_path, {"train": str(path)})
    assert_clean_failure(result, "label 'c' has only 1 example(s)", "at least 3 per label")


def test_predict_input_with_a_lone_surrogate(tmp_path, tiny_bundle):
    """Finding 1 (CLI): predict --input with such a JSONL line gave a traceback."""
    from ..conftest import assert_one_error

    path = tmp_path / "inputs.jsonl"
    path.write_text('{"text": "fine"}\n{"text": "bad \\ud800"}\n', encoding="utf-8")
    outcome = runner.invoke(app, ["predict", str(tiny_bundle), "--input", str(path)])
    assert_one_error(outcome, "inputs.jsonl line 2", "unpaired surrogate")
    outcome = runner.invoke(app, ["predict", str(tiny_bundle), "--text", "bad \udcff"])
    assert_one_error(outcome, "text 1", "unpaired surrogate")
