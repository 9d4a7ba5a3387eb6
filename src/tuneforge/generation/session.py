"""Generating with a bundle: prompts and conversations in, answers out (whole or streamed), and a
chat session that keeps its history. ``tuneforge generate``, ``tuneforge chat`` and the server use
these, so they build prompts exactly as training did (``chat_format.prompt_ids``).
"""

from __future__ import annotations

from typing import Any, Iterator

from ..errors import ConfigError
from .chat_format import prompt_ids
from .decoding import DecodingOptions, Generated, generate_all, stream


def require_generator(predictor) -> None:
    """Refuse a bundle whose task does not generate text."""
    if not predictor.task.generates_text:
        raise ConfigError(f"this bundle's task ({predictor.task.name}) does not generate text; use tuneforge predict")


def decoding_for(predictor, **overrides: Any) -> DecodingOptions:
    """The bundle's decoding settings (``task.decoding``) with ``overrides`` (None values ignored)."""
    base = predictor.task.settings.decoding
    given = {k: v for k, v in overrides.items() if v is not None}
    from pydantic import ValidationError

    try:
        return DecodingOptions.model_validate({**base.model_dump(), **given})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"decoding option {'.'.join(map(str, first['loc']))}: {first['msg']}") from None


def conversation_ids(predictor, messages: list[dict[str, str]], decoding: DecodingOptions) -> list[int]:
    """Prompt ids of a conversation, the oldest tokens cut so that prompt + answer fit ``max_length``."""
    ids = prompt_ids(predictor.tokenizer, messages)
    room = max(1, predictor.max_length - decoding.max_new_tokens)
    return ids[-room:]


def generate(predictor, conversations: list[list[dict[str, str]]], decoding: DecodingOptions,
             batch_size: int = 8) -> list[Generated]:
    """One answer per conversation (each ending with a user message)."""
    prompts = [conversation_ids(predictor, messages, decoding) for messages in conversations]
    return generate_all(predictor.model, predictor.tokenizer, prompts, decoding, batch_size=batch_size)


def stream_answer(predictor, messages: list[dict[str, str]], decoding: DecodingOptions) -> Iterator[str]:
    """The answer to one conversation, piece by piece as it is generated."""
    return stream(predictor.model, predictor.tokenizer, conversation_ids(predictor, messages, decoding), decoding)


class ChatSession:
    """A conversation with a generation bundle: ``send`` streams the answer and keeps it in the history.

    Example:
        >>> session = ChatSession(Predictor.load("runs/lima/bundle"))
        >>> "".join(session.send("Name a colour."))
        'Blue.'
    """

    def __init__(self, predictor, decoding: DecodingOptions | None = None, system: str | None = None) -> None:
        require_generator(predictor)
        self.predictor = predictor
        self.decoding = decoding or decoding_for(predictor)
        self.system = system
        self.history: list[dict[str, str]] = []

    def messages(self) -> list[dict[str, str]]:
        """The conversation so far (with the system message, if any)."""
        return ([{"role": "system", "content": self.system}] if self.system else []) + self.history

    def send(self, text: str) -> Iterator[str]:
        """Add the user's message, stream the answer, then add the answer to the history."""
        self.history.append({"role": "user", "content": text})
        pieces = []
        try:
            for piece in stream_answer(self.predictor, self.messages(), self.decoding):
                pieces.append(piece)
                yield piece
        finally:
            self.history.append({"role": "assistant", "content": "".join(pieces).strip()})

    def reset(self) -> None:
        """Forget the conversation."""
        self.history.clear()
