"""Relation classification: entity markers (checked), spans, the SemEval-2010 Task 8 file format, the
official score, and a tiny model through train, reload, predict in a new process, export and serving."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.errors import DataError
from tuneforge.predictor import Predictor
from tuneforge.tasks import read_examples
from tuneforge.tasks.relation_classification import (
    insert_markers,
    marked_text,
    official_scores,
)

from ..conftest import SHARED_DATA, exported_and_served, run_check

SEMEVAL = SHARED_DATA / "semeval2010_task8" / "TRAIN_FILE.TXT"

BLOCKS = [
    ("The <e1>rain</e1> caused heavy <e2>floods</e2>.", "Cause-Effect(e1,e2)"),
    ("The <e1>floods</e1> came from the <e2>rain</e2>.", "Cause-Effect(e2,e1)"),
    ("The <e1>wheel</e1> of the <e2>car</e2> was new.", "Component-Whole(e1,e2)"),
    ("The <e1>car</e1> has a new <e2>wheel</e2>.", "Component-Whole(e2,e1)"),
    ("The <e1>child</e1> sat by the <e2>window</e2>.", "Other"),
]


def semeval_file(path, blocks, copies: int = 1, newline: str = "\n"):
    lines = []
    for n, (sentence, relation) in enumerate(blocks * copies, start=1):
        lines += [f'{n}\t"{sentence}"', relation, "Comment:", ""]
    path.write_text(newline.join(lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("text, message", [
    ("The rain caused floods.", "missing entity marker(s) <e1> </e1> <e2> </e2>"),
    ("The <e1>rain</e1> caused floods.", "missing entity marker(s) <e2> </e2>"),
    ("<e1>a</e1> <e1>b</e1> <e2>c</e2>", "<e1> appears 2 times"),
    ("The <e1>big <e2>rain</e2></e1> fell.", "nested or overlapping entity markers"),
    ("The <e1>big <e2>rain</e1> fell</e2>.", "nested or overlapping entity markers"),
    ("The </e1>rain<e1> and <e2>floods</e2>", "a closing entity marker comes before its opening one"),
    ("The <e1> </e1> and <e2>floods</e2>", "an entity between its markers is empty"),
])
def test_bad_markers_are_named_with_where_they_are(text, message):
    with pytest.raises(DataError, match=rf"^data.csv line 7: {__import__('re').escape(message)}"):
        marked_text(text, "data.csv line 7")


def test_spans_get_markers_and_bad_spans_are_refused():
    text = "Rain caused floods."
    assert insert_markers(text, {"start": 0, "end": 4}, {"start": 12, "end": 18}, "x") == \
        "<e1>Rain</e1> caused <e2>floods</e2>."
    assert insert_markers("ab", {"start": 1, "end": 2}, {"start": 0, "end": 1}, "x") == "<e2>a</e2><e1>b</e1>"
    with pytest.raises(DataError, match="x: nested or overlapping entity spans"):
        insert_markers(text, {"start": 0, "end": 6}, {"start": 5, "end": 9}, "x")
    with pytest.raises(DataError, match="x: tail span 12..40 is not inside the text"):
        insert_markers(text, {"start": 0, "end": 4}, {"start": 12, "end": 40}, "x")
    with pytest.raises(DataError, match="x: head must be"):
        insert_markers(text, {"start": "0", "end": 4}, {"start": 12, "end": 18}, "x")


def test_the_semeval_format_jsonl_spans_and_marked_csv_read_the_same(tmp_path):
    blocks = semeval_file(tmp_path / "train.txt", BLOCKS, newline="\r\n")
    from_blocks = read_examples(blocks, task_type="relation_classification")
    assert [(e["text"], e["label"]) for e in from_blocks] == BLOCKS
    assert from_blocks[1]["where"].endswith("train.txt line 5")
    rows = [{"text": "Rain caused floods.", "head": {"start": 0, "end": 4}, "tail": {"start": 12, "end": 18},
             "label": "Cause-Effect(e1,e2)"}]
    (tmp_path / "spans.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    spans = read_examples(tmp_path / "spans.jsonl", task_type="relation_classification")
    assert spans[0]["text"] == "<e1>Rain</e1> caused <e2>floods</e2>." and spans[0]["label"] == "Cause-Effect(e1,e2)"
    (tmp_path / "marked.csv").write_text('text,label\n"The <e1>rain</e1> and <e2>floods</e2>",Other\n'
                                         '"The <e1>big <e2>rain</e2></e1>",Other\n')
    with pytest.raises(DataError, match=r"marked.csv line 3: nested or overlapping entity markers"):
        read_examples(tmp_path / "marked.csv", task_type="relation_classification")


def test_the_official_score_counts_direction_and_leaves_other_out():
    gold = ["Cause-Effect(e1,e2)", "Cause-Effect(e2,e1)", "Component-Whole(e1,e2)", "Other", "Other"]
    pred = ["Cause-Effect(e1,e2)", "Cause-Effect(e1,e2)", "Other", "Component-Whole(e1,e2)", "Other"]
    scores = official_scores(gold, pred, "Other")
    # Cause-Effect: 1 correct of 2 predicted, of 2 gold -> F1 0.5; Component-Whole: 0 correct -> 0
    assert scores["official_per_relation"]["Cause-Effect"]["f1"] == pytest.approx(0.5)
    assert scores["official_per_relation"]["Component-Whole"]["f1"] == 0.0
    assert set(scores["official_per_relation"]) == {"Cause-Effect", "Component-Whole"}
    assert scores["official_macro_f1"] == pytest.approx(0.25)


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("relations")
    data = semeval_file(folder / "train.txt", BLOCKS, copies=6)
    cfg = build_config({"data": {"train": str(data), "split": {"validation": 0.2, "seed": 0}},
                        "task": {"type": "relation_classification"},
                        "model": {"name": str(tiny_model_dir), "max_length": 32},
                        "train": {"epochs": 4, "batch_size": 8, "learning_rate": 3e-3, "report_to": []},
                        "output": {"dir": str(folder / "run")}})
    return api.train(cfg), data


def test_train_reload_and_predict_and_evaluate_in_new_processes(trained):
    result, data = trained
    assert "official_macro_f1" in result.metrics
    report = (result.bundle_dir.parent / "report.md").read_text()
    assert "Official score per relation" in report
    assert "| Cause-Effect |" in report or "| Component-Whole |" in report  # a relation, direction dropped
    tokenizer = result.predictor.tokenizer
    assert tokenizer.tokenize("The <e1>rain</e1>")[1] == "<e1>"  # a marker is one token, kept as it is
    texts = [s for s, _ in BLOCKS]
    reloaded = Predictor.load(result.bundle_dir)
    assert [p["label"] for p in reloaded.predict_texts(texts)] == [p["label"] for p in result.predictor.predict_texts(texts)]
    proc = subprocess.run([sys.executable, "-m", "tuneforge", "predict", str(result.bundle_dir), "--text", texts[0]],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])["label"] == result.predictor.predict_texts(texts[:1])[0]["label"]
    proc = subprocess.run([sys.executable, "-m", "tuneforge", "evaluate", str(result.bundle_dir), "--data", str(data)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "official_macro_f1" in proc.stdout, proc.stderr
    with pytest.raises(DataError, match="missing entity marker"):
        reloaded.predict_texts(["no markers here"])


def test_bad_markers_in_a_training_file_exit_2_with_file_and_line(tmp_path):
    bad = semeval_file(tmp_path / "bad.txt", [*BLOCKS, ("The <e1>big <e2>rain</e2></e1> fell.", "Other")])
    config = tmp_path / "bad.yaml"
    config.write_text(f"data: {{train: {bad}}}\ntask: {{type: relation_classification}}\n")
    proc = run_check(config)
    assert proc.returncode == 2
    assert "bad.txt line 21: nested or overlapping entity markers" in proc.stderr and "Traceback" not in proc.stderr


def test_export_passes_the_parity_gate_and_the_server_answers(trained, tmp_path):
    import httpx

    result, data = trained
    with exported_and_served(result.bundle_dir, data, tmp_path) as url:
        texts = [s for s, _ in BLOCKS[:2]]
        answer = httpx.post(url + "/v1/predict", json={"texts": texts}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert [p["label"] for p in answer.json()["predictions"]] == \
            [p["label"] for p in result.predictor.predict_texts(texts)]
        refused = httpx.post(url + "/v1/predict", json={"text": "no markers"}, timeout=30)
        assert refused.status_code == 422 and "missing entity marker" in refused.text
        assert httpx.get(url + "/readyz").status_code == 200


@pytest.mark.skipif(not SEMEVAL.is_file(), reason="the shared SemEval-2010 Task 8 data is not here")
def test_the_real_semeval_file_reads_whole():
    examples = read_examples(SEMEVAL, task_type="relation_classification")
    assert len(examples) == 8000 and len({e["label"] for e in examples}) == 19
