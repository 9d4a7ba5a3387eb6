"""Helpers shared by benchmark scripts: machine facts and writing JSON + markdown results."""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def machine() -> dict:
    """CPU count, torch threads and versions, recorded with every result."""
    import torch
    import transformers

    return {
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def write_results(name: str, payload: dict, table_md: str) -> None:
    """Write ``bench/results/<name>.json`` and ``<name>.md``."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    (RESULTS / f"{name}.md").write_text(table_md, encoding="utf-8")
    print(table_md)
