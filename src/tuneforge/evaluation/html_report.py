"""A self-contained HTML run report: one file with inline CSS and plots embedded as data URIs.

The page opens offline, can be mailed or attached to a ticket, and loads nothing from
the network (no scripts, fonts or stylesheets from elsewhere). Each part is a
``<section>`` with a stable id: summary, metrics and curves here, and the parts the task adds
(``Task.report_sections``) from the builders below: per-class, confusion, calibration, mistakes,
entities. A part whose data
is missing is left out, except the training curves, which say why they are absent.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from .calibration import calibration
from .report import headline

TOP_MISTAKES = 10
TOP_ENTITIES = 10
_MAX_TEXT = 400
_SNIPPET_WINDOW = 70

_CSS = """
:root { --ink: #1f2328; --muted: #5f6b7a; --line: #d0d7de; --zebra: #f6f8fa; --accent: #2b5797; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 15px/1.5 -apple-system, "Segoe UI", "Helvetica Neue", Arial, "Noto Sans", "DejaVu Sans", sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 0 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 18px 0 8px; }
nav { position: sticky; top: 0; background: #fff; border-bottom: 1px solid var(--line); padding: 8px 0; z-index: 1; }
nav a { color: var(--accent); text-decoration: none; margin-right: 16px; font-size: 0.92rem; }
nav a:hover { text-decoration: underline; }
section { margin: 28px 0; }
p.note { color: var(--muted); margin: 6px 0 10px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 0.92rem; }
th, td { border: 1px solid var(--line); padding: 5px 10px; text-align: left; vertical-align: top; }
th { background: #eef1f4; font-weight: 600; }
tbody tr:nth-child(even) { background: var(--zebra); }
tr.weakest td { background: #fdecea; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text { max-width: 560px; overflow-wrap: anywhere; }
td.label { white-space: nowrap; }
.pair { color: var(--muted); display: block; margin-top: 3px; }
.better { color: #1a7f37; } .worse { color: #cf222e; }
mark { background: #ffe08a; padding: 0 2px; border-radius: 2px; }
img { max-width: 100%; height: auto; display: block; margin: 8px 0; }
.kv th { width: 220px; }
.headline { font-size: 1.02rem; }
"""


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return escape(str(value))


def _table(header: list[str] | None, rows: list[list[str]], numeric: set[int] = frozenset(), css: str = "") -> str:
    """An HTML table from already-escaped cells; ``numeric`` column indexes align right.

    A cell that is already a whole ``<td ...>...</td>`` is used as is (for styled cells);
    user text never starts with ``<td`` because it is escaped first.
    """
    head = "" if header is None else "<thead><tr>" + "".join(
        f'<th class="num">{h}</th>' if i in numeric else f"<th>{h}</th>" for i, h in enumerate(header)
    ) + "</tr></thead>"
    body = "".join(
        "<tr>" + "".join(cell if cell.startswith(("<td", "<th")) else
                         (f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>")
                         for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<table class="{css}">{head}<tbody>{body}</tbody></table>'


def _text(value: Any) -> str:
    text = str(value)
    return escape(text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…")


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{escape(alt)}">'


def _summary(metrics: dict[str, Any], context: dict[str, Any] | None) -> str:
    rows = [[escape(str(k)), _text(v)] for k, v in (context or {}).items()]
    if "n" in metrics:
        rows.append(["examples evaluated", _num(metrics["n"])])
    if not rows:
        return '<p class="note">No run details were given.</p>'
    return _table(None, [[f"<th>{k}</th>", v] for k, v in rows], css="kv")


def _metrics(metrics: dict[str, Any]) -> str:
    base = metrics.get("baseline", {})
    rows = []
    for key, value in headline(metrics).items():
        reference = base.get(key)
        if isinstance(reference, (int, float)) and isinstance(value, (int, float)):
            gap = value - reference
            css = "better" if gap > 0 else "worse" if gap < 0 else ""
            delta = f'<td class="num {css}">{gap:+.4f}</td>'
        else:
            delta = "<td></td>"
        rows.append([escape(key), _num(value), _num(reference) if reference is not None else "", delta])
    if not rows:
        return '<p class="note">No headline metrics.</p>'
    header = ["metric", "model", f"baseline ({escape(str(base.get('name', 'n/a')))})", "model − baseline"]
    note = ('<p class="note">The baseline predicts the majority answer of the training data '
            "for every example; a useful model beats it clearly.</p>")
    return note + _table(header, rows, numeric={1, 2, 3}, css="headline")


def per_class_table(metrics: dict[str, Any]) -> str:
    rows = []
    for name, v in (metrics.get("per_class") or {}).items():
        share = max(0.0, min(1.0, float(v["f1"]))) * 100
        fill = f"linear-gradient(90deg, #cfe0f5 {share:.1f}%, transparent {share:.1f}%)"
        bar = f'<td class="num" style="background: {fill}">'
        rows.append([f'<td class="label">{escape(str(name))}</td>', _num(v["precision"]), _num(v["recall"]),
                     bar + _num(v["f1"]) + "</td>", _num(v["support"])])
    return _table(["label", "precision", "recall", "F1", "support"], rows, numeric={1, 2, 3, 4})


def confusion_section(metrics: dict[str, Any]) -> str | None:
    from .plots import confusion_matrix_png

    confusion = metrics.get("confusion_matrix")
    if confusion:
        uri = confusion_matrix_png(confusion["labels"], confusion["matrix"])
        return ('<p class="note">Rows are the true labels, columns the predicted ones; each cell holds a count, '
                "coloured by its share of the true label.</p>" + _img(uri, "confusion matrix"))
    label_confusion = metrics.get("label_confusion")
    if label_confusion:
        rows = [[f'<td class="label">{escape(str(name))}</td>', _num(c["tp"]), _num(c["fp"]), _num(c["fn"]),
                 _num(c["tn"])] for name, c in label_confusion.items()]
        return ('<p class="note">Each label is its own yes/no decision: true positives, false positives, '
                "false negatives and true negatives over all examples.</p>"
                + _table(["label", "tp", "fp", "fn", "tn"], rows, numeric={1, 2, 3, 4}))
    return None


def _calibration(confidences: list[float], correct: list[bool], note: str, xlabel: str, ylabel: str) -> str | None:
    from .plots import reliability_png

    if not confidences:
        return None
    result = calibration(confidences, correct)
    return (f'<p class="headline">Expected calibration error (ECE): <b>{result["ece"]:.4f}</b> '
            f'over {result["n"]:,} predictions in 10 equal-width bins.</p><p class="note">{note}</p>'
            + _img(reliability_png(result, xlabel, ylabel), "reliability diagram"))


def _before_scaling(prediction: dict[str, Any], temperature: float) -> float:
    """The confidence before temperature scaling: softmax(z / T) raised to T and renormalised is softmax(z)."""
    raised = [p ** temperature for p in prediction["scores"].values()]
    return max(raised) / sum(raised)


def classification_calibration(examples, predictions, temperature: float | None = None) -> str | None:
    scores = [p.get("score") for p in predictions]
    if any(s is None for s in scores):
        return None
    correct = [p["label"] == e["label"] for e, p in zip(examples, predictions)]
    before = ""
    if temperature and temperature != 1.0 and all(p.get("scores") for p in predictions):
        before = _calibration([_before_scaling(p, temperature) for p in predictions], correct,
                              f"<b>Before temperature scaling</b> (the same predictions with T = 1; the model "
                              f"divides its logits by T = {temperature:.4g}, fitted on validation).", "confidence",
                              "accuracy") + f"<p><b>After temperature scaling</b> (T = {temperature:.4g}):</p>"
    return before + _calibration(scores, correct, "Confidence is the probability of the predicted label. Bars on the "
                        "dashed diagonal mean the model is right as often as it claims; bars below it mean "
                        "over-confidence (right less often than its scores say: do not take a 0.9 at its word); "
                        "bars above it mean under-confidence (right more often than it says: its scores are too "
                        "modest, and a threshold on them can be set lower).", "confidence", "accuracy")


def multilabel_calibration(examples, predictions) -> str | None:
    confidences, truth = [], []
    for example, prediction in zip(examples, predictions):
        gold = set(example["label"])
        for label, probability in (prediction.get("scores") or {}).items():
            confidences.append(probability)
            truth.append(label in gold)
    return _calibration(confidences, truth, "Every (example, label) pair counts once: the label's sigmoid "
                        "probability against whether the label is really there. Bars below the diagonal mean "
                        "over-confidence (labels predicted more often than they are there), above it "
                        "under-confidence (labels there more often than their probability says).",
                        "predicted probability of the label", "fraction where the label is true")


def entity_calibration(pairs) -> str | None:
    confidences, correct = [], []
    for _, gold, prediction in pairs:
        gold_keys = {(g["type"], g["start"], g["end"]) for g in gold}
        for entity in prediction.get("entities") or []:
            if entity.get("score") is None:
                return None
            confidences.append(entity["score"])
            correct.append((entity["type"], entity["start"], entity["end"]) in gold_keys)
    return _calibration(confidences, correct, "Each predicted entity's score (the mean probability of its words' "
                        "tags) against whether the entity is exactly right: same type and same span as a gold "
                        "entity. Bars below the diagonal mean over-confidence, above it under-confidence.",
                        "entity score", "share of exactly right entities")


def _curves(log_history: list[dict[str, Any]] | None, best_step: int | None = None) -> str:
    from .plots import loss_curves_png

    uri = loss_curves_png(log_history or [], best_step)
    if uri is None:
        return ('<p class="note">No training curves: this report has no training log with losses '
                "(an evaluation-only report, or a method trained without gradient steps).</p>")
    best = (f" The dotted green line marks the best checkpoint (step {best_step}): the model saved and "
            "evaluated is the one from that step." if best_step is not None else "")
    return ('<p class="note">Training loss is logged every few steps, validation loss and metrics at each '
            f"evaluation. A validation loss that climbs while training loss falls means over-fitting.{best}</p>"
            + _img(uri, "training and validation curves"))


def _text_cell(example: dict[str, Any], explanation: list[dict[str, Any]] | None = None) -> str:
    cell = _text(example.get("text", ""))
    if explanation:
        from ..explain.attributions import highlight_html

        cell = highlight_html({"words": explanation})
    if example.get("text_pair"):
        cell += f'<span class="pair">pair: {_text(example["text_pair"])}</span>'
    return f'<td class="text">{cell}</td>'


def classification_mistakes(examples, predictions) -> str:
    wrong = [(p.get("score") or 0.0, i)
             for i, (e, p) in enumerate(zip(examples, predictions)) if p["label"] != e["label"]]
    if not wrong:
        return '<p class="note">No mistakes: every example was predicted correctly.</p>'
    wrong.sort(key=lambda item: -item[0])
    rows = []
    for rank, (score, i) in enumerate(wrong[:TOP_MISTAKES], start=1):
        example, prediction = examples[i], predictions[i]
        p_true = (prediction.get("scores") or {}).get(example["label"])
        rows.append([_num(rank), _text_cell(example, prediction.get("explanation")),
                     f'<td class="label">{escape(str(example["label"]))}</td>',
                     f'<td class="label">{escape(str(prediction["label"]))}</td>', f"{score:.4f}",
                     f"{p_true:.4f}" if p_true is not None else ""])
    note = (f'<p class="note">{len(wrong):,} of {len(examples):,} examples are wrong; the '
            f"{min(len(wrong), TOP_MISTAKES)} the model was most sure of come first. Confident mistakes are "
            "often label errors in the data or gaps in what the model has seen."
            + (" Highlighted words pushed the model towards its (wrong) label (green) or away from it (red): "
               "integrated gradients." if any(predictions[i].get("explanation") for _, i in wrong[:TOP_MISTAKES])
               else "") + "</p>")
    return note + _table(["#", "text", "true", "predicted", "confidence", "p(true)"], rows, numeric={0, 4, 5})


def multilabel_mistakes(examples, predictions) -> str:
    wrong = []
    for i, (example, prediction) in enumerate(zip(examples, predictions)):
        gold, predicted = set(example["label"]), set(prediction["labels"])
        if gold == predicted:
            continue
        scores = prediction.get("scores") or {}
        decisions = [scores[x] for x in predicted - gold if x in scores] + \
                    [1.0 - scores[x] for x in gold - predicted if x in scores]
        wrong.append((max(decisions, default=0.0), i))
    if not wrong:
        return '<p class="note">No mistakes: every example got exactly its label set.</p>'
    wrong.sort(key=lambda item: -item[0])
    rows = []
    for rank, (score, i) in enumerate(wrong[:TOP_MISTAKES], start=1):
        gold, predicted = examples[i]["label"], predictions[i]["labels"]
        rows.append([_num(rank), _text_cell(examples[i]), escape(", ".join(gold) or "(none)"),
                     escape(", ".join(predicted) or "(none)"), f"{score:.4f}"])
    note = (f'<p class="note">{len(wrong):,} of {len(examples):,} examples have a wrong label set. Confidence '
            "is that of the surest wrong decision: a label's probability if it was wrongly added, one minus it "
            "if it was wrongly left out.</p>")
    return note + _table(["#", "text", "true labels", "predicted labels", "confidence"], rows, numeric={0, 4})


def _snippet(text: str, start: int, end: int) -> str:
    """The sentence around [start, end) with the span highlighted, every part escaped."""
    left, right = max(0, start - _SNIPPET_WINDOW), min(len(text), end + _SNIPPET_WINDOW)
    if left:
        space = text.find(" ", left, start)
        left = space + 1 if space >= 0 else left
    if right < len(text):
        space = text.rfind(" ", end, right)
        right = space if space >= 0 else right
    return ("…" if left else "") + escape(text[left:start]) + f"<mark>{escape(text[start:end])}</mark>" + \
        escape(text[end:right]) + ("…" if right < len(text) else "")


def _overlapping(entity: dict[str, Any], others: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in others if o["start"] < entity["end"] and entity["start"] < o["end"]]


def _describe(found: list[dict[str, Any]], empty: str) -> str:
    return escape("; ".join(f"{o['type']} '{o['text']}'" for o in found) or empty)


def entity_errors(pairs) -> str:
    missed, spurious, n_gold, n_pred = [], [], 0, 0
    for text, gold, prediction in pairs:
        predicted = prediction.get("entities") or []
        n_gold, n_pred = n_gold + len(gold), n_pred + len(predicted)
        pred_keys = {(p["type"], p["start"], p["end"]) for p in predicted}
        gold_keys = {(g["type"], g["start"], g["end"]) for g in gold}
        missed += [(text, g, _overlapping(g, predicted))
                   for g in gold if (g["type"], g["start"], g["end"]) not in pred_keys]
        spurious += [(text, p, _overlapping(p, gold))
                     for p in predicted if (p["type"], p["start"], p["end"]) not in gold_keys]
    spurious.sort(key=lambda item: -(item[1].get("score") or 0.0))
    missed_rows = [[_num(i), f'<td class="text">{_snippet(t, g["start"], g["end"])}</td>', escape(g["type"]),
                    escape(g["text"]), _describe(found, "nothing")]
                   for i, (t, g, found) in enumerate(missed[:TOP_ENTITIES], start=1)]
    spurious_rows = [[_num(i), f'<td class="text">{_snippet(t, p["start"], p["end"])}</td>', escape(p["type"]),
                      escape(p["text"]), _num(p["score"]) if p.get("score") is not None else "",
                      _describe(found, "no entity")]
                     for i, (t, p, found) in enumerate(spurious[:TOP_ENTITIES], start=1)]
    parts = ['<p class="note">An entity counts as found only with the exact type and span. A boundary or type '
             "error is therefore both a missed and a spurious entity; the last column shows what overlaps.</p>",
             f"<h3>Missed entities ({len(missed):,} of {n_gold:,} gold)</h3>"]
    parts.append(_table(["#", "sentence", "type", "entity", "predicted there"], missed_rows, numeric={0})
                 if missed_rows else '<p class="note">None: every gold entity was found.</p>')
    parts.append(f"<h3>Spurious entities ({len(spurious):,} of {n_pred:,} predicted), most confident first</h3>")
    parts.append(_table(["#", "sentence", "type", "entity", "score", "gold there"], spurious_rows, numeric={0, 4})
                 if spurious_rows else '<p class="note">None: every predicted entity is in the gold data.</p>')
    return "".join(parts)


def render_html(
    metrics: dict[str, Any],
    title: str,
    context: dict[str, Any] | None = None,
    examples: list[dict[str, Any]] | None = None,
    predictions: list[dict[str, Any]] | None = None,
    log_history: list[dict[str, Any]] | None = None,
    task=None,
    best_step: int | None = None,
) -> str:
    """One self-contained HTML page: run summary, metrics vs baseline, per-class table, plots, mistakes.

    ``metrics`` comes from a task's ``score()`` (``Predictor.evaluate``); ``examples`` and
    ``predictions`` (same order) add calibration, the most confident mistakes and, for
    entity tagging, missed and spurious entities; ``log_history`` is Trainer's
    ``state.log_history`` for the loss curves (``best_step``: the restored checkpoint, marked); ``task`` adds its own parts (``Task.report_sections``:
    per-class tables, confusion, calibration, mistakes or entity errors). All user text is HTML-escaped.

    Why: the markdown report gives the numbers; this page shows where a model fails
    and whether its scores can be trusted, in one file that opens anywhere offline.

    Example:
        >>> metrics, predictions = predictor.evaluate(test_examples)
        >>> page = render_html(metrics, "SST-2 test", {"run": "sst2"}, test_examples, predictions, history)
    """
    if (examples is None) != (predictions is None):
        raise ValueError("give both examples and predictions, or neither")
    if examples is not None and len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    have_predictions = bool(examples)
    sections: list[tuple[str, str, str | None]] = [
        ("summary", "Summary", _summary(metrics, context)),
        ("metrics", f"Metrics ({_num(metrics.get('n', '?'))} examples)", _metrics(metrics)),
    ]
    if task is not None:
        sections += task.report_sections(metrics, examples if have_predictions else None,
                                         predictions if have_predictions else None)
    if metrics.get("robustness"):
        from .robustness import robustness_html

        sections.append(("robustness", "Robustness", robustness_html(metrics["robustness"])))
    sections.append(("curves", "Training curves", _curves(log_history, best_step)))
    shown = [(sid, heading, body) for sid, heading, body in sections if body]
    nav = "".join(f'<a href="#{sid}">{heading.split(" (")[0]}</a>' for sid, heading, _ in shown)
    content = "\n".join(f'<section id="{sid}">\n<h2>{heading}</h2>\n{body}\n</section>' for sid, heading, body in shown)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{escape(title)}</title>\n'
            f"<style>{_CSS}</style>\n</head>\n<body>\n<main>\n<h1>{escape(title)}</h1>\n<nav>{nav}</nav>\n"
            f"{content}\n</main>\n</body>\n</html>\n")


def write_html_report(path: str | Path, *args: Any, **kwargs: Any) -> Path:
    """Write ``render_html(*args, **kwargs)`` to ``path`` as UTF-8 and return the path.

    Why: runs keep ``report.html`` next to ``report.md`` and ``metrics.json``.

    Example:
        >>> write_html_report("runs/demo/report.html", metrics, "demo", log_history=history)
        PosixPath('runs/demo/report.html')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page = render_html(*args, **kwargs)
    path.write_text(page, encoding="utf-8")
    return path
