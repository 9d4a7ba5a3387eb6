"""``tuneforge data check``: the report's findings on data with known problems, the cleaned copy, and
the command line (help, one-line errors)."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from tuneforge.cli import app
from tuneforge.data.check import check_splits, script_mix, tag_scheme_errors
from tuneforge.data.commands import check_data

from ..conftest import NEGATIVE, POSITIVE, assert_one_error, write_csv

pytest.importorskip("datasketch")


@pytest.fixture
def problem_config(tmp_path, tiny_model_dir):
    """Train with a duplicate; test with two training rows in other case/punctuation; validation with a
    label training never saw."""
    train = [{"text": t, "label": "positive"} for t in POSITIVE] + [{"text": t, "label": "negative"} for t in NEGATIVE]
    train.append({"text": POSITIVE[0], "label": "positive"})
    test = [{"text": POSITIVE[1].upper() + "!!", "label": "positive"}, {"text": NEGATIVE[2] + " .", "label": "negative"},
            {"text": "a sentence nobody wrote before about trains", "label": "positive"}]
    validation = [{"text": "meh, it was fine I guess", "label": "neutral"}, {"text": "what a film", "label": "positive"}]
    files = {name: write_csv(tmp_path / f"{name}.csv", rows) for name, rows in
             (("train", train), ("test", test), ("validation", validation))}
    config = {"name": "problems", "data": {k: str(v) for k, v in files.items()},
              "model": {"name": str(tiny_model_dir), "max_length": 12}}
    path = tmp_path / "problems.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path, files


def test_the_report_finds_duplicates_leakage_unseen_labels_and_truncation(problem_config, tmp_path):
    config, files = problem_config
    result = check_data(config, tmp_path / "report", label_errors=False, progress=False)
    report = result.report
    messages = [f["message"] for f in report["findings"]]
    leak = report["duplicates"]["leaked"]["test"]
    assert leak["count"] == 2 and {item["train"]["where"] for item in leak["items"]} == {
        f"{files['train']} line 3", f"{files['train']} line 16"}
    assert report["duplicates"]["within"]["train"]["extra_copies"] == 1
    assert any("validation holds label(s) never seen in training: 'neutral'" in m for m in messages)
    assert any("longer than max_length=12" in m for m in messages)
    assert report["summary"]["errors"] >= 2 and report["findings"][0]["severity"] == "error"
    saved = json.loads((tmp_path / "report" / "data_report.json").read_text(encoding="utf-8"))
    assert saved["summary"] == report["summary"] and "removable" not in saved["duplicates"]
    html = (tmp_path / "report" / "data_report.html").read_text(encoding="utf-8")
    assert "<script" not in html and "also in training at" in html
    assert "## test examples also in training (2)" in (tmp_path / "report" / "data_report.md").read_text(encoding="utf-8")


def test_fix_writes_a_cleaned_copy_and_logs_every_change(problem_config, tmp_path):
    config, files = problem_config
    before = {name: path.read_bytes() for name, path in files.items()}
    result = check_data(config, tmp_path / "report", label_errors=False, fix=True, progress=False)
    assert {name: path.read_bytes() for name, path in files.items()} == before
    cleaned_train = result.cleaned["train"].read_text(encoding="utf-8").splitlines()
    cleaned_test = result.cleaned["test"].read_text(encoding="utf-8").splitlines()
    assert len(cleaned_train) == len(before["train"].decode().splitlines()) - 1
    assert cleaned_test == ["text,label", "a sentence nobody wrote before about trains,positive"]
    changes = [json.loads(line) for line in (tmp_path / "report" / "cleaned" / "changes.jsonl").read_text().splitlines()]
    assert sorted((c["split"], c["reason"]) for c in changes) == [
        ("test", "also in training"), ("test", "also in training"), ("train", "duplicate of an earlier example")]
    assert result.changes == 3


def test_relabel_suspects_uses_the_label_error_search(tmp_path):
    from .test_label_errors import _reviews

    examples, flipped = _reviews(120, 6, seed=3)
    data = write_csv(tmp_path / "reviews.csv", [{"text": e["text"], "label": e["label"]} for e in examples])
    result = check_data(data, tmp_path / "report", task="classification", relabel_suspects=3, progress=False)
    import csv

    suspects = result.report["label_errors"]["suspects"][:3]
    changes = [json.loads(line) for line in (tmp_path / "report" / "cleaned" / "changes.jsonl").read_text().splitlines()]
    relabels = [c for c in changes if c["action"] == "relabel"]
    assert [c["line"] for c in relabels] == sorted(int(s["where"].rsplit(" ", 1)[1]) for s in suspects)
    with open(result.cleaned["train"], encoding="utf-8", newline="") as handle:
        rows = {(row["text"], row["label"]) for row in csv.DictReader(handle)}
    for suspect in suspects:
        assert suspect["index"] in flipped
        assert (suspect["text"], suspect["suggested"]) in rows
    assert (tmp_path / "report" / "label_ranking.json").exists()


def test_entity_tag_scheme_errors_and_script_mix():
    found = tag_scheme_errors([{"tokens": ["in", "new", "york"], "tags": ["O", "I-LOC", "I-LOC"], "where": "f line 4"},
                               {"tokens": ["mary", "smith"], "tags": ["B-PER", "I-PER"], "where": "f line 9"}])
    assert found["errors"] == 1 and found["examples"][0]["where"] == "f line 4"
    assert found["entity_types"] == {"PER": 1}
    mix = script_mix(["hello world", "привет мир", "hello мир мир"])
    assert mix["dominant"] == {"Latin": 1, "Cyrillic": 2} and mix["mixed"] == 1


def test_generation_lengths_are_reported(tiny_model_dir):
    from tuneforge.model_files import load_tokenizer

    conversation = {"messages": [{"role": "user", "content": "summarise this " * 20},
                                 {"role": "assistant", "content": "short"}], "where": "x line 1"}
    report = check_splits({"train": [conversation] * 3}, tokenizer=load_tokenizer(tiny_model_dir), max_length=16,
                          near=False)
    lengths = report["splits"]["train"]["generation_lengths"]
    assert lengths["truncated"] == 3 and lengths["prompt_tokens"]["p50"] > lengths["response_tokens"]["p50"]


def test_cli_check_help_errors_and_output(problem_config, tmp_path):
    runner = CliRunner()
    for command in ("check", "augment", "mask"):
        result = runner.invoke(app, ["data", command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output
    assert_one_error(runner.invoke(app, ["data", "check", str(tmp_path / "missing.csv")]), "file not found")
    config, _ = problem_config
    result = runner.invoke(app, ["data", "check", str(config), "--no-label-errors", "-o", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "error: test: 2 of 3 examples also appear in the training data" in " ".join(result.output.split())
    assert "data_report.html" in result.output
    validation = tmp_path / "validation.csv"
    validation.write_text("text,label\nfine,positive\n\"unclosed,positive,extra\n", encoding="utf-8")
    result = runner.invoke(app, ["data", "check", str(config), "--no-label-errors", "-o", str(tmp_path / "r2")])
    assert result.exit_code == 0, result.output  # the other files are still checked
    assert f"error: validation: {validation} line 3" in " ".join(result.output.split())
    (tmp_path / "train.csv").write_text("text,label\none,two,three\n", encoding="utf-8")
    assert_one_error(runner.invoke(app, ["data", "check", str(config)]), "train.csv line 2: expected 2 fields")
