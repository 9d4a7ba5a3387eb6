"""A warm parent for the kill test: it imports TuneForge's heavy modules once, then forks ``tuneforge`` processes.

Every process of the kill test would otherwise spend most of its life importing torch, transformers, peft,
scikit-learn and Captum, which is not what the test is about. Protocol, one line each way:

- the zygote prints ``ready`` once its imports are done;
- the test writes ``{"args": [...], "cwd": ..., "stderr": ...}`` as JSON; the zygote forks a child that runs
  ``tuneforge ARGS`` in ``cwd`` in a process group of its own, stdout to /dev/null and stderr to the file, and
  prints the child's pid; when the child ends it prints ``exit RC`` (negative for a signal, as subprocess does).

The zygote serves one child at a time. Run as a script: ``python kill_zygote.py``.
"""

from __future__ import annotations

import json
import os
import sys
import traceback


def _preload() -> None:
    """Import what ``tuneforge train`` imports, without running anything (no threads start)."""
    import captum.attr  # noqa: F401  (the report's mistake highlights)
    import peft  # noqa: F401
    import sklearn.model_selection  # noqa: F401
    import transformers.trainer  # noqa: F401

    import tuneforge.api  # noqa: F401
    import tuneforge.cli  # noqa: F401


def _child(request: dict) -> None:
    """Become ``tuneforge ARGS``: never returns."""
    code = 1
    try:
        os.setpgid(0, 0)
        os.chdir(request["cwd"])
        devnull = os.open(os.devnull, os.O_RDWR)
        err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.dup2(err, 2)
        from tuneforge.cli import main

        sys.argv = ["tuneforge", *request["args"]]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve() -> None:
    """Read requests from stdin until it closes; fork and reap one child per request."""
    _preload()
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        try:
            os.setpgid(pid, pid)  # also done by the child: the group exists before the test can signal it
        except OSError:
            pass
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {os.waitstatus_to_exitcode(status)}", flush=True)


if __name__ == "__main__":
    serve()
