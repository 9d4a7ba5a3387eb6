"""Which tokens carry loss, and the one chat format shared by training and inference."""

from __future__ import annotations

import pytest

from tuneforge.errors import ConfigError
from tuneforge.generation.chat_format import (
    IGNORE,
    NAMED_TEMPLATES,
    encode_conversation,
    prompt_ids,
    use_template,
)

TWO_TURNS = [
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "It is 4."},
    {"role": "user", "content": "And 3+3?"},
    {"role": "assistant", "content": "Six."},
]


@pytest.fixture
def tokenizer(tiny_llama_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_llama_dir)


def loss_text(tokenizer, encoded):
    """The text of the tokens that carry loss, with a | wherever loss-carrying runs are interrupted."""
    pieces, previous = [], False
    for token, label in zip(encoded.input_ids, encoded.labels):
        on = label != IGNORE
        if on and not previous and pieces:
            pieces.append("|")
        if on:
            assert label == token  # a label is the token itself (the model shifts)
            pieces.append(tokenizer.decode([token]))
        previous = on
    return "".join(pieces)


def test_loss_falls_on_exactly_the_assistant_turns_with_their_eos(tokenizer):
    encoded = encode_conversation(tokenizer, TWO_TURNS, max_length=512)
    assert loss_text(tokenizer, encoded) == "It is 4.<|im_end|>|Six.<|im_end|>"
    assert not encoded.truncated


def test_mask_history_keeps_only_the_last_answer(tokenizer):
    encoded = encode_conversation(tokenizer, TWO_TURNS, max_length=512, mask_history=True)
    assert loss_text(tokenizer, encoded) == "Six.<|im_end|>"


def test_train_on_prompt_puts_loss_on_every_token(tokenizer):
    encoded = encode_conversation(tokenizer, TWO_TURNS, max_length=512, train_on_prompt=True)
    assert IGNORE not in encoded.labels and encoded.labels == encoded.input_ids


def test_the_prompt_of_inference_is_the_prefix_trained_on(tokenizer):
    """predict, generate, chat and the server build prompts with prompt_ids: the same ids as in training."""
    encoded = encode_conversation(tokenizer, TWO_TURNS, max_length=512)
    labels = encoded.labels
    starts = [i for i, label in enumerate(labels) if label != IGNORE and labels[i - 1] == IGNORE]
    assert len(starts) == 2  # where each answer begins
    assert prompt_ids(tokenizer, TWO_TURNS[:1]) == encoded.input_ids[: starts[0]]
    assert prompt_ids(tokenizer, TWO_TURNS[:3]) == encoded.input_ids[: starts[1]]


def test_truncation_cuts_the_oldest_prompt_tokens_and_keeps_the_answer(tokenizer):
    long = [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "Short answer."}]
    encoded = encode_conversation(tokenizer, long, max_length=64)
    assert encoded.truncated and len(encoded.input_ids) == 64
    assert loss_text(tokenizer, encoded) == "Short answer.<|im_end|>"
    overlong = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "x" * 100}]
    cut = encode_conversation(tokenizer, overlong, max_length=32)
    assert cut.truncated and len(cut.input_ids) == 32 and all(label != IGNORE for label in cut.labels[:20])


def test_named_templates_and_unknown_names(tokenizer):
    use_template(tokenizer, "plain")
    assert tokenizer.chat_template == NAMED_TEMPLATES["plain"]
    encoded = encode_conversation(tokenizer, TWO_TURNS[:2], max_length=512)
    assert loss_text(tokenizer, encoded) == "It is 4.<|im_end|>"
    with pytest.raises(ConfigError, match="task.chat_template"):
        use_template(tokenizer, "vicuna")
