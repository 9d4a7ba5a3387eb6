"""What every ``tuneforge`` command shares: the console, logging, and one-line errors."""

from __future__ import annotations

import logging

import typer

from .errors import TuneForgeError

BACKEND_HELP = ("torch; onnx (the export's default variant, after tuneforge export); auto (the fastest accepted "
                "variant on this CPU, measured once and cached)")
PRECISION_HELP = ("torch backend: auto (bf16 where the CPU has AMX or AVX512-BF16 and the bundle passed its bf16 "
                  "parity gate, else fp32), fp32 or bf16")


def _console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr)


def _setup_logging() -> None:
    from rich.logging import RichHandler

    logger = logging.getLogger("tuneforge")
    if not any(isinstance(h, RichHandler) for h in logger.handlers):
        handler = RichHandler(console=_console(stderr=True), show_path=False, show_time=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    from .logs import quiet_libraries, verbose

    logger.setLevel(logging.DEBUG if verbose() else logging.INFO)
    logger.propagate = False
    quiet_libraries()
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_warning() if verbose() else hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()  # "Loading weights" / "Writing model shards" on every load and save
    except ImportError:
        pass


MAX_ERROR_CHARS = 2000


def _fail(exc: TuneForgeError) -> None:
    message = str(exc)
    if len(message) > MAX_ERROR_CHARS:
        message = message[:MAX_ERROR_CHARS] + f"... ({len(message) - MAX_ERROR_CHARS} more characters)"
    from rich.markup import escape

    _console(stderr=True).print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def _run(call, interrupted: str | None = None):
    """Call the API; a user error prints one line (exit 2); with ``interrupted``, Ctrl-C prints how to
    continue (exit 130)."""
    try:
        return call()
    except TuneForgeError as exc:
        _fail(exc)
    except KeyboardInterrupt:
        if interrupted is None:
            raise
        _console(stderr=True).print(interrupted)
        raise typer.Exit(130)


def write_lines(results: list[dict], output, what: str) -> None:
    """Results as JSON lines on stdout, or in ``output`` (with a note on stderr of how many ``what``)."""
    import json
    import sys

    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in results)
    if output is None:
        sys.stdout.write(lines)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(lines, encoding="utf-8")
        _console(stderr=True).print(f"wrote {len(results)} {what} to {output}")
