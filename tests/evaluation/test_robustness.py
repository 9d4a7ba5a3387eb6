"""The robustness table: the weakest row is the one that loses most, tasks whose examples words cannot
be perturbed are refused with a reason."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tuneforge.errors import ConfigError
from tuneforge.evaluation.robustness import robustness, robustness_markdown


class KeywordModel:
    """Says positive when the text has the word 'good' spelt right: typos and word drop hurt it."""

    task = SimpleNamespace(augmentable=True, name="classification", default_metric="accuracy", lower_is_better=(),
                           same_prediction=lambda a, b: a["label"] == b["label"])

    def evaluate(self, examples):
        predictions = [{"label": "positive" if "good" in e["text"].lower().split() else "negative"} for e in examples]
        correct = sum(p["label"] == e["label"] for p, e in zip(predictions, examples))
        return {"accuracy": correct / len(examples)}, predictions


def test_the_weakest_perturbation_is_the_one_that_loses_most():
    examples = [{"text": f"a good film number {i} , really", "label": "positive"} for i in range(40)]
    model = KeywordModel()
    clean, predictions = model.evaluate(examples)
    table = robustness(model, examples, clean, predictions)
    rows = {r["perturbation"]: r for r in table["rows"]}
    assert rows["case"]["metric"] == 1.0 and rows["case"]["flipped"] == 0.0  # the keyword test ignores case
    assert rows["typos 20%"]["metric"] < rows["typos 10%"]["metric"] <= 1.0
    assert table["weakest"] == min(table["rows"][1:], key=lambda r: r["change"])["perturbation"]
    weakest = rows[table["weakest"]]
    assert weakest["examples"] and all(e["before"] == "positive" and e["after"] == "negative"
                                       for e in weakest["examples"])
    assert "synonym (no embedding matrix" in table["skipped"][0]  # no bundle folder given
    assert f"Weakest: **{table['weakest']}**" in "\n".join(robustness_markdown(table))


def test_tasks_with_offsets_or_markers_are_refused():
    model = SimpleNamespace(task=SimpleNamespace(augmentable=False, name="question_answering"))
    with pytest.raises(ConfigError, match="--robustness perturbs words"):
        robustness(model, [], {}, [])


def test_a_run_with_eval_robustness_reports_it(tiny_model_dir, tmp_path):
    import json

    from ..conftest import train_tiny_bundle

    result, _ = train_tiny_bundle(tiny_model_dir, tmp_path, eval={"robustness": True})
    table = json.loads((result.run_dir / "metrics.json").read_text())["robustness"]
    assert table["rows"][0]["metric"] == result.metrics["accuracy"]
    assert [r["perturbation"] for r in table["rows"]][1:3] == ["typos 10%", "typos 20%"]
    assert "## Robustness" in (result.run_dir / "report.md").read_text()
    assert 'id="robustness"' in (result.run_dir / "report.html").read_text()


def test_entity_data_gets_the_entity_suite(tiny_config, conll_file):
    from tuneforge import api
    from tuneforge.config import build_config

    tiny_config["data"] = {"train": str(conll_file), "split": {"validation": 0.25, "test": 0.25, "seed": 0}}
    tiny_config["task"] = {"type": "token_classification"}
    result = api.train(build_config(tiny_config))
    metrics = api.evaluate(result.bundle_dir, conll_file, robustness=True)
    rows = {r["perturbation"]: r for r in metrics["robustness"]["rows"]}
    assert metrics["robustness"]["metric"] == "f1" and rows["clean"]["metric"] == metrics["f1"]
    assert "entity swap" in rows and rows["entity swap"]["inputs_changed"] > 0
    assert all(0.0 <= r["flipped"] <= 1.0 for r in rows.values())
