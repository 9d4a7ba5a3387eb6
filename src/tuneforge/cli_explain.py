"""``tuneforge explain``: which words drove each prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .cli_support import _run, _setup_logging, write_lines


def explain(
    bundle: Path = typer.Argument(..., help="bundle folder of a text classifier, regressor or entity tagger"),
    text: list[str] = typer.Option(..., "--text", "-t", help="a text to explain (repeatable)"),
    text_pair: Optional[list[str]] = typer.Option(None, "--text-pair", help="second text of a pair (repeatable)"),
    target: Optional[str] = typer.Option(None, "--target", help="the label to explain (default: the predicted one)"),
    steps: int = typer.Option(50, "--steps", help="integration steps (more: a smaller convergence delta)"),
    method: str = typer.Option("integrated_gradients", "--method", help="integrated_gradients (torch; per entity "
                               "for taggers) or occlusion (leave one word out; any backend)"),
    backend: str = typer.Option("torch", "--backend", help="torch, or onnx (occlusion only)"),
    html: Optional[Path] = typer.Option(None, "--html", help="also write the words highlighted as an HTML snippet"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="write JSONL here instead of stdout"),
) -> None:
    """Which words drove each prediction: integrated gradients on the embeddings, one JSON line per text."""
    from . import api

    _setup_logging()
    results = _run(lambda: api.explain(bundle, list(text), list(text_pair) if text_pair else None, target, steps,
                                       method, backend))
    if html is not None:
        from .explain.attributions import highlight_html
        from .fileops import atomic_write_text

        atomic_write_text(html, "\n".join(highlight_html(part) for r in results
                                           for part in (r["entities"] if "entities" in r and "words" not in r else [r]))
                          + "\n")
    write_lines(results, output, "explanations")
