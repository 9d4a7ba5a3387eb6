"""Extractive question answering: SQuAD metrics, windows over long contexts (an answer only in the third
window), answers checked against contexts, and a tiny model through train, reload, predict in a new
process, export and serving."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.errors import DataError
from tuneforge.predictor import Predictor
from tuneforge.qa.squad_metrics import (
    exact_match,
    normalize_answer,
    question_type,
    squad_scores,
    token_f1,
)
from tuneforge.qa.windows import best_answer, encode_windows
from tuneforge.tasks import read_examples

from ..conftest import SHARED_DATA, exported_and_served, run_check

SQUAD_DEV = SHARED_DATA / "squad" / "dev-v1.1.json"


def test_the_official_normalisation_exact_match_and_f1():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert exact_match("the Denver Broncos", ["Carolina", "Denver Broncos"]) == 1.0
    assert token_f1("Denver", ["Denver Broncos"]) == pytest.approx(2 / 3)
    assert token_f1("an apple", ["banana"]) == 0.0 and exact_match("", [""]) == 1.0
    assert [question_type(q) for q in ("Who won?", "In which year?", "Name the city.")] == ["who", "which", "other"]
    examples = [{"question": "Who won?", "answers": [{"text": "Denver Broncos", "start": 0}]},
                {"question": "When?", "answers": [{"text": "in 1998", "start": 0}]}]
    scores = squad_scores(examples, [{"answer": "Denver"}, {"answer": "In 1998!"}])
    assert scores["exact_match"] == pytest.approx(50.0) and scores["f1"] == pytest.approx(100 * (2 / 3 + 1) / 2)
    assert scores["by_question_type"]["who"]["n"] == 1 and set(scores["by_answer_length"]) == {"2 words"}


def test_an_answer_only_in_the_third_window_is_labelled_and_found_at_its_exact_characters(tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    context = " ".join(["a great movie"] * 40) + " and then johnny came."
    answer_start = context.index("johnny")
    example = {"question": "who came?", "context": context, "answers": [{"text": "johnny", "start": answer_start}]}
    features, owners, offsets = encode_windows(tokenizer, [example], max_length=48, doc_stride=16, with_labels=True)
    assert len(owners) >= 3 and set(owners) == {0}
    holding = [i for i, (s, e) in enumerate(features["labels"]) if (s, e) != (0, 0)]
    assert holding and holding[0] >= 2  # not in the first two windows
    window = holding[-1]
    start, end = features["labels"][window]
    assert context[offsets[window][start][0]:offsets[window][end][1]] == "johnny"
    # logits that point at those tokens in that window only: the search finds the exact characters
    windows = []
    for i, row in enumerate(offsets):
        logits = np.zeros((len(row), 2))
        if i == window:
            logits[start, 0] = logits[end, 1] = 9.0
        windows.append((logits, row))
    found = best_answer(context, windows, max_answer_length=10)
    assert (found["answer"], found["start"], found["end"]) == ("johnny", answer_start, answer_start + 6)
    assert 0 < found["score"] <= 1


def test_answers_that_do_not_match_their_context_are_named(tmp_path):
    rows = [{"question": "Who?", "context": "Ann did it.", "answer_text": "Ann", "answer_start": 0},
            {"question": "What?", "context": "Ann did it.", "answer_text": "it", "answer_start": 2}]
    (tmp_path / "qa.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(DataError, match=r"qa.jsonl line 2: answer_start 2 does not point at the answer 'it': the "
                                        r"context there reads 'n '"):
        read_examples(tmp_path / "qa.jsonl", task_type="question_answering")
    squad = {"data": [{"paragraphs": [{"context": "Ann did it.", "qas": [
        {"id": "q1", "question": "Who?", "answers": [{"text": "Ann", "answer_start": 0}]},
        {"id": "q2", "question": "Who else?", "answers": []}]}]}]}
    (tmp_path / "squad.json").write_text(json.dumps(squad))
    with pytest.raises(DataError, match="squad.json question q2: the question has no answer"):
        read_examples(tmp_path / "squad.json", task_type="question_answering")
    (tmp_path / "list.csv").write_text('question,context,answers\nWho?,Ann did it.,"[{""text"": ""Ann"", '
                                       '""answer_start"": 0}]"\n')
    assert read_examples(tmp_path / "list.csv", task_type="question_answering")[0]["answers"] == \
        [{"text": "Ann", "start": 0}]


@pytest.fixture(scope="module")
def trained(tiny_model_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("qa")
    names = ["john", "mary", "paul", "anna", "mark", "lucy"]
    rows = []
    for i, name in enumerate(names * 4):
        context = f"the movie was great . {name} liked it a lot ."
        rows.append({"question": "who liked the movie ?", "context": context, "answer_text": name,
                     "answer_start": context.index(name), "id": str(i)})
    data = folder / "qa.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    cfg = build_config({"data": {"train": str(data), "split": {"validation": 0.2, "seed": 0}},
                        "task": {"type": "question_answering"},
                        "model": {"name": str(tiny_model_dir), "max_length": 32},
                        "train": {"epochs": 3, "batch_size": 8, "learning_rate": 3e-3, "report_to": []},
                        "output": {"dir": str(folder / "run")}})
    return api.train(cfg), data


def test_train_reload_and_predict_and_evaluate_in_new_processes(trained, tmp_path):
    result, data = trained
    assert {"exact_match", "f1", "by_question_type"} <= set(result.metrics)
    reloaded = Predictor.load(result.bundle_dir)
    examples = read_examples(data, task_type="question_answering")[:6]
    in_memory = result.predictor.predict(examples)
    assert reloaded.predict(examples) == in_memory
    for example, answer in zip(examples, in_memory):  # spans come from the context, offsets exact
        assert answer["answer"] == example["context"][answer["start"]:answer["end"]]
    questions = tmp_path / "questions.jsonl"
    questions.write_text("\n".join(json.dumps({"question": e["question"], "context": e["context"]})
                                   for e in examples[:2]))
    proc = subprocess.run([sys.executable, "-m", "tuneforge", "predict", str(result.bundle_dir), "--input",
                           str(questions)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert [json.loads(line)["answer"] for line in proc.stdout.splitlines()] == [a["answer"] for a in in_memory[:2]]
    proc = subprocess.run([sys.executable, "-m", "tuneforge", "evaluate", str(result.bundle_dir), "--data", str(data)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "exact_match" in proc.stdout, proc.stderr


def test_a_bad_answer_start_exits_2_with_file_and_line(tmp_path):
    (tmp_path / "qa.jsonl").write_text(json.dumps({"question": "Who?", "context": "Ann did it.",
                                                   "answer_text": "Ann", "answer_start": 4}))
    config = tmp_path / "qa.yaml"
    config.write_text(f"data: {{train: {tmp_path / 'qa.jsonl'}}}\ntask: {{type: question_answering}}\n")
    proc = run_check(config)
    assert proc.returncode == 2
    assert "qa.jsonl line 1: answer_start 4 does not point at the answer 'Ann'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_export_passes_the_parity_gate_and_the_server_answers_pairs(trained, tmp_path):
    import httpx

    result, data = trained
    with exported_and_served(result.bundle_dir, data, tmp_path) as url:
        question, context = "who liked the movie ?", "the movie was great . mary liked it a lot ."
        answer = httpx.post(url + "/v1/predict", json={"text": question, "text_pair": context}, timeout=30)
        assert answer.status_code == 200, answer.text
        expected = result.predictor.predict([{"question": question, "context": context, "answers": []}])[0]
        assert answer.json()["predictions"][0]["answer"] == expected["answer"]
        named = httpx.post(url + "/v1/predict", json={"questions": [question], "contexts": [context]}, timeout=30)
        assert named.status_code == 200 and named.json()["predictions"] == answer.json()["predictions"]
        assert httpx.post(url + "/v1/predict", json={"text": question}, timeout=30).status_code == 422
        both = httpx.post(url + "/v1/predict", json={"question": question, "text": question, "context": context})
        assert both.status_code == 422 and "not both" in both.json()["error"]


@pytest.mark.skipif(not SQUAD_DEV.is_file(), reason="the shared SQuAD data is not here")
def test_the_official_dev_set_reads_whole():
    examples = read_examples(SQUAD_DEV, task_type="question_answering")
    assert len(examples) == 10570 and max(len(e["answers"]) for e in examples) >= 3
