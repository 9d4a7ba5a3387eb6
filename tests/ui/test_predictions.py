"""How predictions are shaped for the page: entities become highlighted pieces of the text, scores are
sorted, values and answers shown."""

from __future__ import annotations

from tuneforge.ui.trymodel import segments, shaped


def test_entities_become_highlighted_pieces_in_order():
    text = "john lives in paris ."
    entities = [{"text": "paris", "type": "LOC", "start": 14, "end": 19, "score": 0.9},
                {"text": "john", "type": "PER", "start": 0, "end": 4, "score": 0.8}]
    pieces = segments(text, entities)
    assert "".join(p["text"] for p in pieces) == text  # nothing lost or repeated
    assert [(p["text"], p.get("type")) for p in pieces] == [
        ("john", "PER"), (" lives in ", None), ("paris", "LOC"), (" .", None)]


def test_overlapping_or_broken_spans_never_repeat_text():
    text = "abcdef"
    pieces = segments(text, [{"type": "A", "start": 0, "end": 4}, {"type": "B", "start": 2, "end": 6},
                             {"type": "C", "start": "x", "end": 3}])
    assert "".join(p["text"] for p in pieces) == text
    assert [p.get("type") for p in pieces] == ["A", "B"]


def test_scores_are_sorted_and_other_fields_kept():
    shown = shaped({"label": "b", "score": 0.7, "scores": {"a": 0.1, "b": 0.7, "c": 0.2}, "extra": 3}, "t")
    assert shown["label"] == "b" and [k for k, _ in shown["scores"]] == ["b", "c", "a"]
    assert shown["other"] == [("extra", 3)]
    assert shaped({"value": 2.5}, "t")["values"] == [("value", 2.5)]
    assert shaped({"answer": "paris", "score": 0.4}, "t")["answer"] == "paris"
