"""Request bodies: parsed with limits, validated into examples, and described in the OpenAPI document.

Bodies are parsed by hand rather than by FastAPI so that every problem is a 422 with a message
that says what to send, and so that no body can cost the server more than its size: nesting depth,
integer length and non-standard constants (``NaN``) are limited before anything else looks at it.

Example:
    >>> body = parse_json(b'{"texts": ["fine"]}', max_depth=16)
    >>> examples_from_body(body, max_texts=64, max_text_chars=5000, needs_pair=False)
    [{'text': 'fine', 'text_pair': None}]
"""

from __future__ import annotations

import json
from typing import Any

from ..data.text import text_problem

MAX_INTEGER_DIGITS = 64

PREDICT_SCHEMA: dict[str, Any] = {
    "title": "PredictRequest",
    "description": "One text (`text`) or several (`texts`); pair models also take `text_pair` or `text_pairs`.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "text": {"type": "string", "minLength": 1, "description": "one text"},
        "texts": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
                  "description": "several texts (at most --max-texts)"},
        "text_pair": {"type": "string", "minLength": 1, "description": "second text (pair models only)"},
        "text_pairs": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1,
                       "description": "second texts, as many as texts (pair models only)"},
    },
}
# question answering's names for the same fields: {"question", "context"} is {"text", "text_pair"}
ALIASES = {"question": "text", "questions": "texts", "context": "text_pair", "contexts": "text_pairs"}
PREDICT_SCHEMA["properties"].update({alias: {**PREDICT_SCHEMA["properties"][name],
                                             "description": f"question answering: `{name}`"}
                                     for alias, name in ALIASES.items()})
RELOAD_SCHEMA: dict[str, Any] = {
    "title": "ReloadRequest",
    "type": "object",
    "additionalProperties": False,
    "required": ["bundle"],
    "properties": {"bundle": {"type": "string", "minLength": 1,
                              "description": "a bundle folder under the server's --bundle-root"}},
}


class _Refused(ValueError):
    pass


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _Refused(f"a number has more than {MAX_INTEGER_DIGITS} digits")
    return int(text)


def _constant(name: str):
    raise _Refused(f"{name} is not JSON")


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return deepest


def parse_json(raw: bytes, max_depth: int) -> Any:
    """The parsed body, or the message of a 422 (not UTF-8, not JSON, too deep, numbers too long)."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_int=_integer, parse_constant=_constant)
    except UnicodeDecodeError:
        return "the body is not UTF-8 text"
    except _Refused as exc:
        return f"the body is refused: {exc}"
    except RecursionError:
        return f"the body is nested more than {max_depth} levels deep"
    except ValueError:
        return "the body is not valid JSON"
    if _depth(value) > max_depth:
        return f"the body is nested more than {max_depth} levels deep"
    return value


def examples_from_body(body: Any, max_texts: int, max_text_chars: int, needs_pair: bool) -> list[dict[str, Any]] | str:
    """Validated examples from a predict body, or the message of a 422."""
    if not isinstance(body, dict):
        return "the body must be a JSON object with 'text' or 'texts'"
    unknown = sorted(set(body) - set(PREDICT_SCHEMA["properties"]))
    if unknown:
        return f"unknown fields {unknown[:5]}; use 'text' or 'texts' (and 'text_pair' or 'text_pairs')"
    for alias, name in ALIASES.items():  # {question, context}: question answering's names for a pair
        if alias in body:
            if name in body:
                return f"give '{name}' or '{alias}', not both"
            body = {**{k: v for k, v in body.items() if k != alias}, name: body[alias]}
    for one, many in (("text", "texts"), ("text_pair", "text_pairs")):
        if one in body and many in body:
            return f"give '{one}' or '{many}', not both"
    if ("text_pair" in body and "texts" in body) or ("text_pairs" in body and "text" in body):
        return "give 'text' with 'text_pair', or 'texts' with 'text_pairs'"
    texts = body["texts"] if "texts" in body else [body["text"]] if "text" in body else None
    pairs = body["text_pairs"] if "text_pairs" in body else [body["text_pair"]] if "text_pair" in body else None
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return "give 'text' (a string) or 'texts' (a non-empty list of strings)"
    if len(texts) > max_texts:
        return f"{len(texts)} texts in one request; the limit is {max_texts}"
    if pairs is not None:
        if not needs_pair:
            return "this model classifies single texts: 'text_pair' and 'text_pairs' are not taken"
        if not isinstance(pairs, list) or len(pairs) != len(texts) or not all(isinstance(p, str) for p in pairs):
            return "'text_pairs' must be a list of strings as long as 'texts'"
    elif needs_pair:
        return "this model classifies text pairs: give 'text_pair' or 'text_pairs'"
    for kind, values in (("text", texts), ("text pair", pairs or [])):
        for i, text in enumerate(values):
            if not text.strip():
                return f"{kind} {i} is empty"
            if len(text) > max_text_chars:
                return f"{kind} {i} has {len(text)} characters; the limit is {max_text_chars}"
            problem = text_problem(text)
            if problem:
                return f"{kind} {i} {problem}"
    return [{"text": t, "text_pair": p} for t, p in zip(texts, pairs or [None] * len(texts))]
