"""``tuneforge generate`` and ``tuneforge chat``: answers from a generation bundle in the terminal."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from .cli_support import _console, _fail, _run, _setup_logging, write_lines
from .errors import TuneForgeError

SAMPLE = typer.Option(False, "--sample", help="sample instead of greedy decoding")
MAX_NEW = typer.Option(None, "--max-new-tokens", help="answer length limit (default: the bundle's)")
TEMPERATURE = typer.Option(None, "--temperature", help="sampling temperature")
TOP_P = typer.Option(None, "--top-p", help="nucleus sampling: smallest set of tokens with this probability")
TOP_K = typer.Option(None, "--top-k", help="sample among the k most likely tokens (0: off)")
PENALTY = typer.Option(None, "--repetition-penalty", help="above 1 discourages repeating tokens")
STOP = typer.Option(None, "--stop", help="stop at this string (repeatable)")
SEED = typer.Option(None, "--seed", help="sampling seed")


def _decoding(sample, max_new_tokens, temperature, top_p, top_k, repetition_penalty, stop, seed) -> dict:
    return {"do_sample": True if sample else None, "max_new_tokens": max_new_tokens, "temperature": temperature,
            "top_p": top_p, "top_k": top_k, "repetition_penalty": repetition_penalty, "stop": stop or None,
            "seed": seed}


def _write_stream(pieces) -> None:
    """Write streamed pieces as they come; an error mid-stream is one error line."""
    try:
        for piece in pieces:
            sys.stdout.write(piece)
            sys.stdout.flush()
    except TuneForgeError as exc:
        sys.stdout.write("\n")
        _fail(exc)


def generate(
    bundle: Path = typer.Argument(..., help="a generation bundle"),
    prompt: Optional[list[str]] = typer.Option(None, "--prompt", "-p", help="a prompt (repeatable)"),
    input: Optional[Path] = typer.Option(None, "--input", "-i", help="JSONL/JSON of prompts, Alpaca records or chats"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="write JSONL here instead of stdout"),
    sample: bool = SAMPLE, max_new_tokens: Optional[int] = MAX_NEW, temperature: Optional[float] = TEMPERATURE,
    top_p: Optional[float] = TOP_P, top_k: Optional[int] = TOP_K, repetition_penalty: Optional[float] = PENALTY,
    stop: Optional[list[str]] = STOP, seed: Optional[int] = SEED,
) -> None:
    """Generate answers: one --prompt streams to the terminal; several, or --input, write JSON lines."""
    from . import api

    _setup_logging()
    decoding = _decoding(sample, max_new_tokens, temperature, top_p, top_k, repetition_penalty, stop, seed)
    if prompt and len(prompt) == 1 and input is None and output is None:
        _write_stream(_run(lambda: api.generate_stream(bundle, prompt[0], **decoding)))
        sys.stdout.write("\n")
        return
    results = _run(lambda: api.generate(bundle, prompts=prompt, input_path=input, **decoding))
    write_lines(results, output, "answers")


def chat(
    bundle: Path = typer.Argument(..., help="a generation bundle"),
    system: Optional[str] = typer.Option(None, "--system", help="a system message"),
    sample: bool = SAMPLE, max_new_tokens: Optional[int] = MAX_NEW, temperature: Optional[float] = TEMPERATURE,
    top_p: Optional[float] = TOP_P, top_k: Optional[int] = TOP_K, repetition_penalty: Optional[float] = PENALTY,
    stop: Optional[list[str]] = STOP, seed: Optional[int] = SEED,
) -> None:
    """Chat with a generation bundle in the terminal: answers stream; /reset forgets, /exit (or Ctrl-D) quits."""
    from . import api

    _setup_logging()
    decoding = _decoding(sample, max_new_tokens, temperature, top_p, top_k, repetition_penalty, stop, seed)
    session = _run(lambda: api.chat_session(bundle, system=system, **decoding))
    err = _console(stderr=True)
    err.print("chat: type a message; /reset forgets the conversation, /exit quits")
    while True:
        try:
            line = input("you> ") if sys.stdin.isatty() else sys.stdin.readline()
        except (EOFError, KeyboardInterrupt):
            break
        if not sys.stdin.isatty() and line == "":
            break  # end of input
        text = line.strip()
        if text in ("/exit", "/quit"):
            break
        if text == "/reset":
            session.reset()
            err.print("(conversation reset)")
            continue
        if not text:
            continue
        sys.stdout.write("assistant> ")
        try:
            _write_stream(session.send(text))
        except KeyboardInterrupt:
            pass  # stop this answer, keep chatting
        sys.stdout.write("\n")
        sys.stdout.flush()
