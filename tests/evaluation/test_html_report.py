"""HTML report: calibration by hand, and whole pages for classification, entity tagging and multi-label.

Metrics come from the tasks' real ``score()`` on hand-made examples and predictions;
no model is trained.
"""

from __future__ import annotations

import base64
import re

import pytest

from tuneforge.evaluation.calibration import calibration
from tuneforge.evaluation.html_report import render_html, write_html_report
from tuneforge.evaluation.plots import curve_series, loss_curves_png
from tuneforge.tasks import get_task
from tuneforge.tasks.token_classification import join_words, word_tags_to_entities

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LOG_HISTORY = [
    {"loss": 1.1, "grad_norm": 0.8, "learning_rate": 1e-4, "epoch": 0.5, "step": 10},
    {"eval_loss": 0.9, "eval_accuracy": 0.6, "eval_runtime": 0.3, "eval_samples_per_second": 120.0,
     "eval_steps_per_second": 3.4, "epoch": 1.0, "step": 18},
    {"loss": 0.7, "grad_norm": 1.2, "learning_rate": 9e-5, "epoch": 1.1, "step": 20},
    {"eval_loss": 0.6, "eval_accuracy": 0.8, "eval_runtime": 0.3, "eval_samples_per_second": 121.0,
     "eval_steps_per_second": 3.5, "epoch": 2.0, "step": 36},
    {"train_runtime": 40.0, "train_samples_per_second": 47.0, "train_loss": 0.8, "epoch": 2.0, "step": 36},
]


def section(page: str, section_id: str) -> str:
    found = re.search(rf'<section id="{section_id}">(.*?)</section>', page, re.S)
    assert found, f"section {section_id!r} missing"
    return found.group(1)


def section_ids(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)">', page)


def check_self_contained(page: str) -> int:
    """Every image is an embedded PNG; nothing is fetched from elsewhere. Returns the image count."""
    images = re.findall(r"<img\b[^>]*>", page)
    for tag in images:
        src = re.search(r'src="([^"]*)"', tag).group(1)
        assert src.startswith("data:image/png;base64,"), src[:60]
        assert base64.b64decode(src.split(",", 1)[1], validate=True).startswith(PNG_SIGNATURE)
    lowered = page.lower()
    for banned in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert banned not in lowered, banned
    return len(images)


def test_calibration_by_hand():
    result = calibration([0.95, 0.85, 0.65, 0.62, 0.3], [True, False, True, True, False], bins=5)
    # bin 4: mean 0.90, accuracy 0.5; bin 3: mean 0.635, accuracy 1.0; bin 1: 0.30, accuracy 0.0
    assert result["ece"] == pytest.approx((2 * 0.4 + 2 * 0.365 + 1 * 0.3) / 5)
    assert result["count"] == [0, 1, 0, 2, 2]
    assert result["edges"] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert result["confidence"][0] is None and result["accuracy"][2] is None
    assert result["confidence"][3] == pytest.approx(0.635) and result["accuracy"][4] == pytest.approx(0.5)


def test_calibration_edges_and_errors():
    perfect = calibration([1.0, 1.0, 0.0], [True, True, False], bins=10)
    assert perfect["count"][-1] == 2 and perfect["count"][0] == 1  # 1.0 falls in the last bin
    assert perfect["ece"] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        calibration([0.5, 0.6], [True])
    with pytest.raises(ValueError):
        calibration([], [])
    with pytest.raises(ValueError):
        calibration([1.2], [True])


def test_curve_series_keeps_losses_and_metrics_only():
    series = curve_series(LOG_HISTORY)
    assert set(series) == {"loss", "eval_loss", "eval_accuracy"}
    assert series["loss"] == [(10, 1.1), (20, 0.7)]
    assert series["eval_accuracy"] == [(18, 0.6), (36, 0.8)]
    assert loss_curves_png([]) is None
    assert loss_curves_png([{"train_runtime": 3.0, "step": 5}]) is None
    assert loss_curves_png(LOG_HISTORY[:1]).startswith("data:image/png;base64,")


CLS_EXAMPLES = [
    {"text": "a great movie", "text_pair": None, "label": "positive"},
    {"text": "<script>alert('x')</script> & more", "text_pair": "second <b>text</b>", "label": "negative"},
    {"text": "it was fine", "text_pair": None, "label": "neutral"},
    {"text": "awful acting", "text_pair": None, "label": "negative"},
    {"text": "loved every minute", "text_pair": None, "label": "positive"},
    {"text": "not bad at all", "text_pair": None, "label": "positive"},
]
CLS_PREDICTIONS = [  # mistakes: index 1 (0.80), index 5 (0.97), index 2 (0.55)
    ("positive", {"positive": 0.90, "negative": 0.05, "neutral": 0.05}),
    ("positive", {"positive": 0.80, "negative": 0.15, "neutral": 0.05}),
    ("negative", {"positive": 0.20, "negative": 0.55, "neutral": 0.25}),
    ("negative", {"positive": 0.10, "negative": 0.70, "neutral": 0.20}),
    ("positive", {"positive": 0.60, "negative": 0.30, "neutral": 0.10}),
    ("negative", {"positive": 0.02, "negative": 0.97, "neutral": 0.01}),
]
CLS_LABELS = ["negative", "neutral", "positive"]


def classification_run():
    predictions = [{"label": label, "score": scores[label], "scores": scores} for label, scores in CLS_PREDICTIONS]
    counts = {"positive": 5, "negative": 3, "neutral": 2}
    metrics = get_task("classification").score(CLS_EXAMPLES, predictions, CLS_LABELS, {"label_counts": counts})
    return metrics, predictions


def test_classification_report():
    metrics, predictions = classification_run()
    context = {"run": "demo <run>", "method": "full", "data": "10 train / 6 test", "training time": "3.0s"}
    page = render_html(metrics, "Report <demo>", context, CLS_EXAMPLES, predictions, LOG_HISTORY,
                       task=get_task("classification"))

    assert section_ids(page) == ["summary", "metrics", "per-class", "confusion", "calibration", "mistakes", "curves"]
    assert check_self_contained(page) == 3  # confusion, reliability, curves
    assert all(f'href="#{sid}"' in page for sid in section_ids(page))
    assert "<title>Report &lt;demo&gt;</title>" in page
    assert "demo &lt;run&gt;" in section(page, "summary") and "3.0s" in section(page, "summary")

    numbers = section(page, "metrics")
    assert f"{metrics['accuracy']:.4f}" == "0.5000" and "0.5000" in numbers
    assert "always &#x27;positive&#x27;" in numbers and f"{metrics['baseline']['macro_f1']:.4f}" in numbers
    per_class = section(page, "per-class")
    assert all(f">{name}<" in per_class for name in CLS_LABELS)
    assert f"{metrics['per_class']['positive']['recall']:.4f}" in per_class

    expected = calibration([p["score"] for p in predictions],
                           [p["label"] == e["label"] for e, p in zip(CLS_EXAMPLES, predictions)])
    assert f"<b>{expected['ece']:.4f}</b>" in section(page, "calibration")

    mistakes = section(page, "mistakes")
    rows = re.findall(r"<tr>(.*?)</tr>", mistakes.split("<tbody>")[1], re.S)
    assert len(rows) == 3
    assert "not bad at all" in rows[0] and "0.9700" in rows[0]  # most confident mistake first
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; more" in rows[1]
    assert "second &lt;b&gt;text&lt;/b&gt;" in rows[1]
    assert "it was fine" in rows[2]
    assert "a great movie" not in mistakes  # right answers are not mistakes
    assert "<script" not in page and "<b>text" not in page


def test_report_without_predictions_or_history():
    metrics, _ = classification_run()
    page = render_html(metrics, "eval only", task=get_task("classification"))
    assert section_ids(page) == ["summary", "metrics", "per-class", "confusion", "curves"]
    assert "No training curves" in section(page, "curves") and "<img" not in section(page, "curves")
    with pytest.raises(ValueError):
        render_html(metrics, "x", examples=CLS_EXAMPLES, predictions=[])


def ner_prediction(tokens: list[str], tags: list[str], scores: list[float]) -> dict:
    text, spans = join_words(tokens)
    return {"tokens": tokens, "tags": tags, "entities": word_tags_to_entities(tokens, spans, tags, scores, text)}


NER_EXAMPLES = [
    {"tokens": ["John", "lives", "in", "Paris"], "tags": ["B-PER", "O", "O", "B-LOC"]},
    {"tokens": ["Google", "works", "in", "New", "London"], "tags": ["B-ORG", "O", "O", "B-LOC", "I-LOC"]},
    {"tokens": ["Mary", "met", "<i>Anna</i>"], "tags": ["B-PER", "O", "O"]},
]
NER_PREDICTED = [
    (["B-PER", "O", "O", "O"], [0.99, 0.9, 0.9, 0.6]),                  # Paris missed
    (["B-ORG", "O", "O", "O", "B-PER"], [0.95, 0.9, 0.9, 0.5, 0.7]),    # New London missed, PER London spurious
    (["B-PER", "O", "B-ORG"], [0.92, 0.9, 0.88]),                       # ORG <i>Anna</i> spurious
]


def test_ner_report():
    predictions = [ner_prediction(e["tokens"], tags, scores) for e, (tags, scores) in zip(NER_EXAMPLES, NER_PREDICTED)]
    metrics = get_task("token_classification").score(NER_EXAMPLES, predictions, [], {})
    page = render_html(metrics, "NER", {"run": "conll"}, NER_EXAMPLES, predictions, LOG_HISTORY,
                       task=get_task("token_classification"))

    assert section_ids(page) == ["summary", "metrics", "per-class", "calibration", "entities", "curves"]
    assert check_self_contained(page) == 2  # reliability, curves
    assert "Per entity type" in page and ">LOC<" in section(page, "per-class")
    assert f"{metrics['token_accuracy']:.4f}" in section(page, "metrics")

    # predicted entities in order: John PER, Google ORG, London PER, Mary PER, <i>Anna</i> ORG
    expected = calibration([0.99, 0.95, 0.7, 0.92, 0.88], [True, True, False, True, False])
    assert f"<b>{expected['ece']:.4f}</b>" in section(page, "calibration")

    entities = section(page, "entities")
    missed, spurious = entities.split("Spurious entities")
    assert "Missed entities (2 of 5 gold)" in missed
    assert "<mark>Paris</mark>" in missed and "<mark>New London</mark>" in missed
    assert "PER &#x27;London&#x27;" in missed  # what the model predicted over the missed span
    assert "(2 of 5 predicted)" in spurious
    rows = re.findall(r"<tr>(.*?)</tr>", spurious.split("<tbody>")[1], re.S)
    assert len(rows) == 2
    assert "<mark>&lt;i&gt;Anna&lt;/i&gt;</mark>" in rows[0] and "0.8800" in rows[0] and "no entity" in rows[0]
    assert "<mark>London</mark>" in rows[1] and "LOC &#x27;New London&#x27;" in rows[1]  # 0.70: second
    assert "<i>Anna" not in page
    assert "<mark>John</mark>" not in entities and "<mark>Mary</mark>" not in entities  # found: not listed


def test_multilabel_report(tmp_path):
    examples = [
        {"text": "refund and crash", "text_pair": None, "label": ["billing", "technical"]},
        {"text": "café ✓ login fails", "text_pair": None, "label": ["technical"]},
        {"text": "thanks!", "text_pair": None, "label": []},
    ]
    predictions = [
        {"labels": ["billing", "technical"], "scores": {"billing": 0.9, "technical": 0.8}},
        {"labels": ["billing", "technical"], "scores": {"billing": 0.75, "technical": 0.95}},
        {"labels": [], "scores": {"billing": 0.1, "technical": 0.2}},
    ]
    metrics = get_task("multilabel").score(examples, predictions, ["billing", "technical"],
                                           {"label_counts": {"billing": 1, "technical": 3}, "examples": 4})
    path = write_html_report(tmp_path / "out" / "report.html", metrics, "multi", task=get_task("multilabel"), examples=examples,
                             predictions=predictions)
    page = path.read_text(encoding="utf-8")
    assert "café ✓ login fails" in page
    assert section_ids(page) == ["summary", "metrics", "per-class", "confusion", "calibration", "mistakes", "curves"]
    assert check_self_contained(page) == 1  # reliability only: label confusion is a table, no curves
    confusion = section(page, "confusion")
    assert "<img" not in confusion and "<th" in confusion and ">billing<" in confusion
    expected = calibration([0.9, 0.8, 0.75, 0.95, 0.1, 0.2], [True, True, False, True, False, False])
    assert f"<b>{expected['ece']:.4f}</b>" in section(page, "calibration")
    mistakes = section(page, "mistakes")
    assert "1 of 3 examples" in mistakes and "0.7500" in mistakes and "refund" not in mistakes


def test_curves_mark_the_restored_checkpoint_and_give_sparse_series_markers():
    from tuneforge.evaluation.plots import loss_curves_figure

    history = [{"loss": 0.9, "step": 5}, {"eval_loss": 0.7, "eval_accuracy": 0.6, "step": 5},
               {"eval_loss": 0.8, "eval_accuracy": 0.5, "step": 10}]
    fig, plt = loss_curves_figure(history, best_step=5)
    try:
        loss_ax, metric_ax = fig.axes
        training = next(line for line in loss_ax.lines if line.get_label() == "training loss")
        assert training.get_marker() not in (None, "None", "")  # one point: visible only as a marker
        for ax in (loss_ax, metric_ax):
            assert any(list(line.get_xdata()) == [5, 5] for line in ax.lines)  # the vertical line at step 5
        assert any("best checkpoint (step 5)" in line.get_label() for line in loss_ax.lines)
    finally:
        plt.close(fig)
    many = [{"loss": 1 / (i + 1), "step": i} for i in range(1, 40)]
    fig, plt = loss_curves_figure(many)
    try:
        assert fig.axes[0].lines[0].get_marker() in (None, "None", "")  # a dense curve needs no markers
    finally:
        plt.close(fig)


def test_the_calibration_note_explains_both_directions():
    examples = [{"text": f"t{i}", "label": "a" if i % 2 else "b"} for i in range(20)]
    predictions = [{"label": "a", "score": 0.9, "scores": {"a": 0.9, "b": 0.1}} for _ in range(20)]
    from tuneforge.evaluation.html_report import classification_calibration

    note = classification_calibration(examples, predictions)
    assert "over-confidence" in note and "under-confidence" in note
