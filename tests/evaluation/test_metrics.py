import pytest

from tuneforge.evaluation.metrics import classification_metrics, entity_metrics, multilabel_metrics
from tuneforge.evaluation.report import render_markdown


def test_classification_metrics_by_hand():
    y_true = ["a", "a", "a", "b", "b", "c"]
    y_pred = ["a", "a", "b", "b", "c", "c"]
    m = classification_metrics(y_true, y_pred, ["a", "b", "c"], majority_label="a")
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["a"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": pytest.approx(0.8), "support": 3}
    assert m["confusion_matrix"]["matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert m["baseline"]["accuracy"] == pytest.approx(0.5)
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)


def test_multilabel_metrics_by_hand():
    m = multilabel_metrics([["a"], ["a", "b"], []], [["a"], ["a"], ["b"]], ["a", "b"], baseline_labels=["a"])
    assert m["accuracy"] == pytest.approx(1 / 3)
    assert m["label_confusion"]["b"] == {"tp": 0, "fp": 1, "fn": 1, "tn": 1}
    assert m["per_class"]["a"]["f1"] == pytest.approx(1.0)
    assert m["baseline"]["accuracy"] == pytest.approx(1 / 3)


def test_entity_metrics_by_hand():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-ORG", "B-LOC"]]
    m = entity_metrics(gold, pred)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["per_class"]["PER"]["f1"] == 1.0 and m["per_class"]["LOC"]["f1"] == 0.0
    assert m["token_accuracy"] == pytest.approx(4 / 6)
    assert m["baseline"]["f1"] == 0.0


def test_markdown_report_has_sections():
    m = classification_metrics(["a", "b"], ["a", "a"], ["a", "b"], "a")
    md = render_markdown(m, "Title", {"run": "x"})
    assert md.startswith("# Title") and "- **run**: x" in md
    assert "## Per class" in md and "## Confusion matrix" in md and "always 'a'" in md


def test_a_tied_majority_counts_each_tied_class_equally():
    truth = ["a", "a", "a", "b", "c", "c"]
    first = classification_metrics(truth, truth, ["a", "b", "c"], "a")["baseline"]
    assert first["name"] == "always 'a'" and first["accuracy"] == pytest.approx(0.5)
    tie = classification_metrics(truth, truth, ["a", "b", "c"], ["b", "c"])["baseline"]
    assert tie["accuracy"] == pytest.approx((1 / 6 + 2 / 6) / 2)  # neither tied class is picked arbitrarily
    assert "2 tied in training: 'b', 'c'" in tie["name"]


def test_the_classification_task_finds_the_tie_in_the_training_counts():
    from tuneforge.tasks import get_task

    examples = [{"label": label} for label in ["a", "a", "b", "c"]]
    predictions = [{"label": "a"}] * 4
    metrics = get_task("classification").score(examples, predictions, ["a", "b", "c"],
                                               {"label_counts": {"a": 5, "b": 5, "c": 1}})
    assert metrics["baseline"]["accuracy"] == pytest.approx((2 / 4 + 1 / 4) / 2)
