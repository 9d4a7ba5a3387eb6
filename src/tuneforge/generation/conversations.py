"""Records of a generation data file -> conversations (OpenAI-style ``messages``).

Four record shapes are recognised, per record:

- prompt/response columns (``data.prompt_column``, ``data.response_column``, optional
  ``data.system_column``); ``data.response_column`` may list several columns: the first present is
  the training target, all present are references (DialogSum's test set has three summaries);
- Alpaca style: ``instruction``, optional ``input``, ``output``, optional ``history`` (a list of
  earlier ``[user, assistant]`` turns);
- chat: ``messages``, a list of ``{"role": "system"|"user"|"assistant", "content": "..."}``;
- an OpenAssistant message tree (``prompt`` or a root message with ``text``/``role``/``replies``),
  flattened into one conversation along the best-ranked reply at each turn.

Anything else is one ``DataError`` naming the file and line.
"""

from __future__ import annotations

from typing import Any

from ..errors import DataError

ROLES = ("system", "user", "assistant")
OASST_ROOT = "prompt"  # an OpenAssistant export keeps a tree's first message under this key
OASST_ROLES = {"prompter": "user", "assistant": "assistant"}


def _text(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str):
        raise DataError(f"{where}: {what} must be a string, found {type(value).__name__}")
    return value


def _check_messages(messages: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: 'messages' must be a non-empty list of {{role, content}} objects")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise DataError(f"{where}: message {i} needs a role ({', '.join(ROLES)}) and a content string")
        out.append({"role": message["role"], "content": _text(message.get("content"), where, f"message {i} content")})
    body = [m for m in out if m["role"] != "system"]
    if any(m["role"] == "system" for m in out[1:]) or not body or body[0]["role"] != "user":
        raise DataError(f"{where}: a conversation is an optional system message, then turns starting with the user")
    for a, b in zip(body, body[1:]):
        if a["role"] == b["role"]:
            raise DataError(f"{where}: two {a['role']} messages in a row; user and assistant turns must alternate")
    return out


def _oasst_path(node: dict[str, Any], where: str) -> list[dict[str, str]]:
    """The conversation along the best-ranked reply (lowest ``rank``, else the first) at each turn."""
    messages = []
    while isinstance(node, dict):
        role = OASST_ROLES.get(node.get("role"))
        if role is None:
            raise DataError(f"{where}: message tree node with role {node.get('role')!r} (prompter or assistant)")
        messages.append({"role": role, "content": _text(node.get("text"), where, "message text")})
        replies = [r for r in node.get("replies") or [] if isinstance(r, dict) and not r.get("deleted")]
        node = min(replies, key=lambda r: r.get("rank") if isinstance(r.get("rank"), int) else 1 << 30) \
            if replies else None
    while messages and messages[-1]["role"] != "assistant":
        messages.pop()  # a tree that ends with an unanswered prompt
    return messages


def conversation_of(record: dict[str, Any], columns, where: str) -> dict[str, Any]:
    """One record -> ``{"messages": [...], "references": [...]}`` (references: the last assistant
    turn's reference texts, empty when the record has no response, e.g. input for ``predict``)."""
    prompt_column = getattr(columns, "prompt_column", None)
    response_columns = getattr(columns, "response_columns", None) or []
    system_column = getattr(columns, "system_column", None)
    if prompt_column and prompt_column in record:
        messages = []
        if system_column and record.get(system_column):
            messages.append({"role": "system", "content": _text(record[system_column], where, system_column)})
        prompt = _text(record[prompt_column], where, prompt_column)
        template = getattr(columns, "prompt_template", None)
        messages.append({"role": "user", "content": template.replace("{prompt}", prompt) if template else prompt})
        references = [_text(record[c], where, c) for c in response_columns if record.get(c) not in (None, "")]
        if references:
            messages.append({"role": "assistant", "content": references[0]})
        return {"messages": messages, "references": references}
    if "messages" in record:
        messages = _check_messages(record["messages"], where)
    elif "instruction" in record:
        messages = []
        for turn in record.get("history") or []:
            if not (isinstance(turn, (list, tuple)) and len(turn) == 2):
                raise DataError(f"{where}: 'history' must be a list of [user, assistant] pairs")
            messages += [{"role": "user", "content": _text(turn[0], where, "history")},
                         {"role": "assistant", "content": _text(turn[1], where, "history")}]
        instruction = _text(record["instruction"], where, "instruction")
        extra = record.get("input") or ""
        messages.append({"role": "user", "content": f"{instruction}\n\n{_text(extra, where, 'input')}" if extra
                         else instruction})
        if record.get("output") not in (None, ""):
            messages.append({"role": "assistant", "content": _text(record["output"], where, "output")})
    elif isinstance(record.get(OASST_ROOT), dict) or ("replies" in record and "role" in record):
        messages = _oasst_path(record[OASST_ROOT] if isinstance(record.get(OASST_ROOT), dict) else record, where)
        if not messages:
            raise DataError(f"{where}: the message tree holds no answered prompt")
    else:
        wanted = f"a {prompt_column!r} column, " if prompt_column else "data.prompt_column, "
        raise DataError(f"{where}: not a generation record: expected {wanted}'messages', 'instruction'/'output' "
                        f"(Alpaca) or an OpenAssistant message tree; found keys {sorted(record)[:8]}")
    references = [messages[-1]["content"]] if messages[-1]["role"] == "assistant" else []
    return {"messages": messages, "references": references}


def prompt_messages(example: dict[str, Any]) -> list[dict[str, str]]:
    """The conversation up to (not including) its final assistant turn: what the model answers."""
    messages = example["messages"]
    return messages[:-1] if messages and messages[-1]["role"] == "assistant" else messages


def display_prompt(messages: list[dict[str, str]]) -> str:
    """The last user message of a conversation (what a report shows as the prompt)."""
    users = [m["content"] for m in messages if m["role"] == "user"]
    return users[-1] if users else ""


PROMPT_RESPONSE_COLUMNS = (("prompt", "response"), ("prompt", "completion"), ("dialogue", "summary"),
                           ("document", "summary"), ("article", "summary"), ("question", "answer"),
                           ("input", "output"), ("source", "target"))


def starter_columns(columns: list[str]) -> tuple[dict[str, str], str] | None:
    """Which record shape a file with ``columns`` holds: the ``data:`` settings it needs and a description
    (None: no shape this module reads). What ``tuneforge init`` asks of a generation data file."""
    lower = {c.lower(): c for c in columns}
    if "messages" in lower:
        return {}, "chat records ('messages')"
    if "instruction" in lower and "output" in lower:
        return {}, "Alpaca-style records (instruction, input, output)"
    for prompt, response in PROMPT_RESPONSE_COLUMNS:
        if prompt in lower and response in lower:
            return ({"prompt_column": lower[prompt], "response_column": lower[response]},
                    f"prompt column {lower[prompt]!r}, response column {lower[response]!r}")
    return None
