"""Where TuneForge's messages go, and which library messages are kept out of the user's way.

- Through the Python API, TuneForge's own lines (``logging.getLogger("tuneforge")``) are shown on stderr
  unless the program has configured logging itself (then they propagate to its handlers as usual).
- Loading a backbone does not print transformers' LOAD REPORT table (TuneForge logs what trains instead).
- The CLI hides library warnings that carry no action for the user; ``tuneforge --verbose`` shows them.
"""

from __future__ import annotations

import logging
import os
import warnings
from contextlib import contextmanager

VERBOSE_ENV = "TUNEFORGE_VERBOSE"


def verbose() -> bool:
    """Whether ``tuneforge --verbose`` (or ``TUNEFORGE_VERBOSE=1``) asked for every library message."""
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


def api_logging() -> None:
    """Show TuneForge's INFO lines on stderr when nothing else would: no handler on the ``tuneforge``
    logger and none on the root logger (a program that configured logging keeps its own handlers)."""
    logger = logging.getLogger("tuneforge")
    if logger.handlers or logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("tuneforge %(levelname)s: %(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)


@contextmanager
def quiet_loading():
    """transformers at error level while a model loads (its LOAD REPORT lists every head weight it did
    not find, which is expected for a new task head); unchanged with ``--verbose``."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is a dependency
        yield
        return
    before = hf_logging.get_verbosity()
    if not verbose():
        hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)


def quiet_libraries() -> None:
    """For the CLI: hide library warnings that carry no action for the user (deprecations inside
    libraries, ONNX tracer warnings, ONNX Runtime's quantization advice), unless ``--verbose``."""
    if verbose():
        return
    for category in (FutureWarning, DeprecationWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    for module in ("torch", "transformers", "onnxruntime", "onnx", "peft", "sentence_transformers", "optimum",
                   "sklearn", "openvino", "nncf", "mlflow", "accelerate", "datasets"):
        warnings.filterwarnings("ignore", module=module)
    try:
        from torch.jit import TracerWarning

        warnings.filterwarnings("ignore", category=TracerWarning)
    except ImportError:  # pragma: no cover
        pass
    logging.getLogger().setLevel(logging.ERROR)  # libraries that log to the root logger (ONNX Runtime's tools)


def progress_bar(items, desc: str, enabled: bool = True, minimum: int = 200):
    """``items`` wrapped in a tqdm progress bar on stderr (none for fewer than ``minimum`` items)."""
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, disable=not enabled or len(items) < minimum, leave=False)
