"""The real server, started in a subprocess on loopback: shared by the serving tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuneforge import api
from tuneforge.config import build_config

from ..conftest import CONLL, train_tiny_bundle

KEY = "test-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


httpx = pytest.importorskip("httpx")
FAULTY_SERVE = Path(__file__).with_name("faulty_serve.py")


def wait_for(condition, timeout: float = 15.0, what: str = "condition"):
    """Poll ``condition()`` until it returns something true (returned), or fail after ``timeout`` seconds:
    tests wait for an observable state, not for a guessed number of seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def refuses_connections(port: int) -> bool:
    """True once nothing listens on ``port`` (a server that stopped accepting)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return False
    except OSError:
        return True


class Server:
    """``tuneforge serve`` in a subprocess; stderr (the JSON access log) goes to a file."""

    def __init__(self, bundle, *args, delay_ms=0, log_dir: Path, fail_after=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log_dir / f"serve-{self.port}.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        faults = delay_ms or fail_after is not None  # injected by a launcher, never by the server's own code
        launcher = [str(FAULTY_SERVE), str(delay_ms), str(-1 if fail_after is None else fail_after)] if faults \
            else ["-m", "tuneforge"]
        self.proc = subprocess.Popen([sys.executable, *launcher, "serve", str(bundle), "--port", str(self.port),
                                      *map(str, args)], stdout=subprocess.PIPE, stderr=open(self.log, "w"), env=env)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready")

    def access_lines(self) -> list[dict]:
        lines = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{"):
                lines.append(json.loads(line))
        return lines

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="session")
def bundles(tiny_model_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    cls, _ = train_tiny_bundle(tiny_model_dir, tmp)
    base = {"model": {"name": str(tiny_model_dir), "max_length": 32}, "train": {"epochs": 1, "batch_size": 8}}
    conll = tmp / "ner.conll"
    body = CONLL.split("\n", 2)[2]
    conll.write_text(CONLL + ("\n" + body) * 3, encoding="utf-8")
    ner = api.train(build_config({**base, "data": {"train": str(conll)}, "task": {"type": "token_classification"},
                                  "output": {"dir": str(tmp / "ner")}}))
    return {"cls": cls.bundle_dir, "ner": ner.bundle_dir, "tmp": tmp}


