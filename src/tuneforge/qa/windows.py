"""Long contexts as overlapping windows, and answers found back in them.

``encode_windows`` tokenizes ``question [SEP] context`` into windows of ``max_length`` tokens that
overlap by ``doc_stride`` tokens (the tokenizer's own overflow handling), keeps each context token's
character offsets, and labels each training window with the answer's token span, or with position 0
([CLS]) when the answer is not wholly inside it. ``best_answer`` searches every window of a question:
the ``n_best`` start and end positions by logit, ends after starts, at most ``max_answer_length``
tokens, on context tokens only; the best span by start + end logit, its characters taken from the
context through the offsets. With ``allow_no_answer`` the empty answer wins when the [CLS] score beats
the best span by more than ``null_threshold`` (SQuAD 2.0).

Example:
    >>> features, owners, offsets = encode_windows(tokenizer, examples, 384, 128, with_labels=False)
    >>> best_answer(context, [(logits, offsets[0])], max_answer_length=30)
    {'answer': 'Denver Broncos', 'start': 177, 'end': 191, 'score': 0.93}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, DataError


def encode_windows(tokenizer, examples: list[dict[str, Any]], max_length: int, doc_stride: int,
                   with_labels: bool) -> tuple[dict[str, list], list[int], list[list[tuple[int, int] | None]]]:
    """Model inputs of every window (``labels``: ``[start, end]`` token positions when ``with_labels``), the
    example each window belongs to, and each window's character offsets (None off the context)."""
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError("question answering needs a fast tokenizer (offset mapping); this backbone has none")
    if doc_stride > max_length // 2:
        raise ConfigError(f"task.doc_stride ({doc_stride}) must be at most half of model.max_length ({max_length})")
    questions = [e["question"].lstrip() for e in examples]
    lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
    longest = max(range(len(examples)), key=lengths.__getitem__) if examples else 0
    room = max_length - (lengths[longest] if examples else 0) - tokenizer.num_special_tokens_to_add(pair=True)
    if examples and room < 8:  # the tokenizer would panic: no room for the context beside the question
        raise DataError(f"{examples[longest].get('where', 'input')}: the question takes {lengths[longest]} of the "
                        f"{max_length} tokens (model.max_length), leaving no room for the context")
    encoded = tokenizer(questions, [e["context"] for e in examples], truncation="only_second",
                        max_length=max_length, stride=min(doc_stride, room // 2), return_overflowing_tokens=True,
                        return_offsets_mapping=True, padding=False)
    owners = list(encoded.pop("overflow_to_sample_mapping"))
    all_offsets = encoded.pop("offset_mapping")
    offsets, labels = [], []
    for i, owner in enumerate(owners):
        sequence = encoded.sequence_ids(i)
        offsets.append([tuple(o) if sequence[k] == 1 else None for k, o in enumerate(all_offsets[i])])
        if with_labels:
            labels.append(_answer_tokens(examples[owner], offsets[-1]))
    features = {k: list(v) for k, v in encoded.items()}
    if with_labels:
        features["labels"] = labels
    return features, owners, offsets


def _answer_tokens(example: dict[str, Any], offsets: list[tuple[int, int] | None]) -> list[int]:
    """``[start, end]`` token positions of the example's first answer in one window; ``[0, 0]`` ([CLS])
    when the answer is not wholly inside it, or the question has none."""
    if not example["answers"]:
        return [0, 0]
    start_char = example["answers"][0]["start"]
    end_char = start_char + len(example["answers"][0]["text"])
    inside = [k for k, o in enumerate(offsets) if o is not None]
    if not inside or offsets[inside[0]][0] > start_char or offsets[inside[-1]][1] < end_char:
        return [0, 0]
    start = next(k for k in inside if offsets[k][1] > start_char)
    end = next(k for k in reversed(inside) if offsets[k][0] < end_char)
    return [start, end]


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def best_answer(context: str, windows: list[tuple[np.ndarray, list[tuple[int, int] | None]]], *,
                max_answer_length: int = 30, n_best: int = 20, allow_no_answer: bool = False,
                null_threshold: float = 0.0) -> dict[str, Any]:
    """The best answer over one question's windows (``(logits (tokens, 2), offsets)`` each): text,
    character ``start``/``end`` (end exclusive) and ``score`` (start x end probability in its window)."""
    best, null = None, None
    for logits, offsets in windows:
        starts, ends = logits[:, 0], logits[:, 1]
        null_score = float(starts[0] + ends[0])
        null = null_score if null is None else min(null, null_score)
        context_tokens = np.array([o is not None for o in offsets[: len(starts)]])
        if not context_tokens.any():
            continue
        masked_starts = np.where(context_tokens, starts, -np.inf)
        masked_ends = np.where(context_tokens, ends, -np.inf)
        top_starts = np.argsort(masked_starts)[::-1][:n_best]
        top_ends = np.argsort(masked_ends)[::-1][:n_best]
        for s in top_starts:
            if not context_tokens[s]:
                break
            for e in top_ends:
                if not context_tokens[e]:
                    break
                if e < s or e - s + 1 > max_answer_length:
                    continue
                score = float(starts[s] + ends[e])
                if best is None or score > best[0]:
                    keep = np.append([True], context_tokens[1:])  # [CLS] + the context: the window's choices
                    probability = float(_softmax(starts[keep])[int(keep[: s + 1].sum()) - 1]
                                        * _softmax(ends[keep])[int(keep[: e + 1].sum()) - 1])
                    best = (score, offsets[s][0], offsets[e][1], probability)
    if best is None or (allow_no_answer and null is not None and null - best[0] > null_threshold):
        return {"answer": "", "start": None, "end": None, "score": 0.0 if best is None else round(1 - best[3], 6)}
    _, start, end, probability = best
    return {"answer": context[start:end], "start": int(start), "end": int(end), "score": round(probability, 6)}
