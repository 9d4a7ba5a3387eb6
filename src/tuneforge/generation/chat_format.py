"""One chat format for training, evaluation, ``predict``, ``generate``, ``chat`` and the server.

A conversation is rendered with the tokenizer's chat template (the model's own, or a named one from
``NAMED_TEMPLATES`` set on the tokenizer, so the bundle's tokenizer carries it), then tokenized
without adding special tokens (the template holds them). Training marks which tokens carry loss:
by default the assistant turns, each with the end-of-turn/EOS token that closes it.

Example:
    >>> ids = prompt_ids(tokenizer, [{"role": "user", "content": "Hi"}])   # what the model answers
    >>> encoded = encode_conversation(tokenizer, messages, max_length=512)  # input_ids + labels
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, DataError

IGNORE = -100
NAMED_TEMPLATES = {
    # ChatML, as SmolLM2 and Qwen use it (no default system message)
    "chatml": ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
               "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"),
    # for base models without special tokens: the EOS token closes each answer
    "plain": ("{% for m in messages %}{% if m['role'] == 'assistant' %}### Response:\n{{ m['content'] }}{{ eos_token }}"
              "\n\n{% else %}### {{ m['role'] | capitalize }}:\n{{ m['content'] }}\n\n{% endif %}{% endfor %}"
              "{% if add_generation_prompt %}### Response:\n{% endif %}"),
}


def use_template(tokenizer, name: str) -> None:
    """Set the chat template: ``model`` keeps the tokenizer's own (``plain`` when it has none)."""
    if name == "model":
        if not getattr(tokenizer, "chat_template", None):
            tokenizer.chat_template = NAMED_TEMPLATES["plain"]
        return
    if name not in NAMED_TEMPLATES:
        raise ConfigError(f"task.chat_template must be model or one of {', '.join(NAMED_TEMPLATES)}, not {name!r}")
    tokenizer.chat_template = NAMED_TEMPLATES[name]
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token


def render(tokenizer, messages: list[dict[str, str]], add_generation_prompt: bool = False) -> str:
    """The conversation as text, by the tokenizer's chat template."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def prompt_ids(tokenizer, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of ``messages`` followed by the start of the assistant's answer (what generation extends)."""
    return tokenizer(render(tokenizer, messages, add_generation_prompt=True), add_special_tokens=False)["input_ids"]


@dataclass
class Encoded:
    """A tokenized conversation: ids, the loss labels (``IGNORE`` where no loss), and whether it was cut."""

    input_ids: list[int]
    labels: list[int]
    truncated: bool = False


def _assistant_spans(tokenizer, messages, text: str) -> list[tuple[int, int]]:
    """Character spans of each assistant turn in ``text``: its content and the EOS token that closes it
    (what the template writes after the EOS, such as a newline, carries no loss)."""
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        start = len(render(tokenizer, messages[:i], add_generation_prompt=True))
        end = len(render(tokenizer, messages[: i + 1]))
        if not text.startswith(render(tokenizer, messages[: i + 1])):
            raise ConfigError("the chat template does not render a conversation as the prefix of a longer one; "
                              "set task.chat_template to chatml or plain")
        closing = text.rfind(tokenizer.eos_token, start, end) if tokenizer.eos_token else -1
        spans.append((start, closing + len(tokenizer.eos_token) if closing >= 0 else end))  # up to the EOS
    return spans


def encode_conversation(tokenizer, messages: list[dict[str, str]], max_length: int, train_on_prompt: bool = False,
                        mask_history: bool = False) -> Encoded:
    """Token ids and loss labels of a whole conversation.

    Loss: every assistant turn (content + the end-of-turn token) by default; ``mask_history``: the
    last one only; ``train_on_prompt``: every token. Over ``max_length`` the prompt is cut from the
    left (the oldest turns go first) so that the last answer stays whole; an answer longer than
    ``max_length`` on its own is cut at its end. Either way ``truncated`` is set.
    """
    text = render(tokenizer, messages)
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = encoding["input_ids"], encoding["offset_mapping"]
    spans = _assistant_spans(tokenizer, messages, text)
    if not spans:
        raise DataError("a training conversation needs at least one assistant turn")
    if mask_history:
        spans = spans[-1:]
    in_span = [any(s <= start < e for s, e in spans) for start, _ in offsets]
    labels = [t if (train_on_prompt or inside) else IGNORE for t, inside in zip(ids, in_span)]
    truncated = False
    if len(ids) > max_length:
        truncated = True
        last_start = next(i for i, (start, _) in enumerate(offsets) if start >= spans[-1][0])
        answer = len(ids) - last_start
        if answer >= max_length:
            ids, labels = ids[last_start : last_start + max_length], labels[last_start : last_start + max_length]
        else:
            keep = max_length - answer  # prompt tokens kept: the most recent ones
            ids = ids[last_start - keep : last_start] + ids[last_start:]
            labels = labels[last_start - keep : last_start] + labels[last_start:]
    return Encoded(list(ids), list(labels), truncated)


def loss_tokens(encoded: Encoded) -> int:
    """How many tokens of ``encoded`` carry loss."""
    return sum(1 for label in encoded.labels if label != IGNORE)


def pad_batch(rows: list[list[int]], pad_id: int, left: bool) -> tuple[Any, Any]:
    """Pad token id rows to one tensor (left padding for generation); returns (ids, attention mask)."""
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if not row:
            continue
        if left:
            ids[i, width - len(row):], mask[i, width - len(row):] = torch.tensor(row), 1
        else:
            ids[i, : len(row)], mask[i, : len(row)] = torch.tensor(row), 1
    return ids, mask
