"""Helpers shared by benchmark scripts: machine facts and writing JSON + markdown results."""

from __future__ import annotations

import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


INTERESTING_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile",
                     "avx_vnni")


def cpu() -> dict:
    """The CPU model and its vector-instruction flags (from /proc/cpuinfo; empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"model": platform.processor(), "flags": []}
    fields = {}
    for line in text.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            fields.setdefault(key.strip(), value.strip())  # the first CPU's
    flags = set(fields.get("flags", "").split())
    return {"model": fields.get("model name", ""), "flags": [f for f in INTERESTING_FLAGS if f in flags]}


def machine() -> dict:
    """CPU model and flags, CPU count, torch threads and versions, recorded with every result."""
    import torch
    import transformers

    return {
        "cpu": cpu(),
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


def free_port() -> int:
    """A TCP port free on loopback."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], port: int, timeout: float = 300):
    """Start a server process (``subprocess.Popen``) and wait until its ``/readyz`` answers 200."""
    import subprocess
    import time

    import httpx

    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"{cmd} did not become ready")
