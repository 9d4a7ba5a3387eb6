"""Traffic capture: every sampled prediction is written or counted as dropped, personal data is masked
before it reaches the disk, retention holds, and the database survives a SIGKILL mid-burst."""

from __future__ import annotations

import re
import signal
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import CollectorRegistry

from tuneforge.monitoring.capture import DATABASE, Capture

from ..conftest import train_tiny_bundle

httpx = pytest.importorskip("httpx")


def _counter(metrics: str, name: str) -> float:
    found = re.search(rf"^{name} ([0-9.e+]+)$", metrics, re.M)
    return float(found.group(1)) if found else 0.0


def test_writes_or_counts_every_row_masks_and_keeps_retention(tmp_path):
    registry = CollectorRegistry()
    capture = Capture(tmp_path, registry, max_rows=50, queue_size=10_000)
    examples = [{"text": f"mail me at person{i}@example.com, case {i}"} for i in range(120)]
    predictions = [{"label": "positive", "score": 0.9, "scores": {"positive": 0.9, "negative": 0.1}}] * 120
    capture.offer(examples, predictions, "m")
    capture.close()
    with sqlite3.connect(tmp_path / DATABASE) as db:
        rows = db.execute("SELECT text, label, confidence FROM traffic ORDER BY id").fetchall()
    assert len(rows) == 50  # retention: the newest 50
    assert rows[-1] == ("mail me at <EMAIL>, case 119", "positive", 0.9)
    assert not any("@example.com" in r[0] for r in rows)
    offered = registry.get_sample_value("tuneforge_capture_offered_total")
    written = registry.get_sample_value("tuneforge_capture_written_total")
    assert offered == 120 and written == 120

    tiny = Capture(tmp_path / "small", CollectorRegistry(), queue_size=1)
    blocker = threading.Event()
    tiny._rows = lambda items: (blocker.wait(5), [])[1]  # a stuck writer: the queue fills
    tiny.offer(examples[:30], predictions[:30], "m")
    dropped = tiny.dropped._value.get()
    blocker.set()
    tiny.close()
    assert dropped >= 28  # the writer holds at most one row and the queue one more; the rest are counted


def test_a_server_burst_is_captured_and_survives_sigkill(tiny_model_dir, tmp_path):
    from ..serve.conftest import Server

    result, _ = train_tiny_bundle(tiny_model_dir, tmp_path)
    capture_dir = tmp_path / "captured"
    server = Server(result.bundle_dir, "--capture", capture_dir, log_dir=tmp_path)
    body = {"texts": ["a great movie, call +44 20 7946 0958", "so dull"]}
    try:
        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(lambda _: httpx.post(server.url + "/v1/predict", json=body,
                                                          timeout=60).status_code, range(400)))
        ok = statuses.count(200)
        metrics = httpx.get(server.url + "/metrics", timeout=30).text
    finally:
        server.stop()  # SIGTERM: the queue is flushed
    offered = _counter(metrics, "tuneforge_capture_offered_total")
    assert offered == 2 * ok
    with sqlite3.connect(capture_dir / DATABASE) as db:
        written = db.execute("SELECT COUNT(*) FROM traffic").fetchone()[0]
        texts = {r[0] for r in db.execute("SELECT DISTINCT text FROM traffic")}
    assert _counter(metrics, "tuneforge_capture_dropped_total") == 0
    assert written == offered  # a burst this size fits the queue: every row written
    assert texts == {"a great movie, call <PHONE>", "so dull"}

    server = Server(result.bundle_dir, "--capture", capture_dir, log_dir=tmp_path)
    stop = threading.Event()

    def burst():
        with httpx.Client() as client:
            while not stop.is_set():
                try:
                    client.post(server.url + "/v1/predict", json=body, timeout=5)
                except httpx.HTTPError:
                    return

    threads = [threading.Thread(target=burst) for _ in range(8)]
    for t in threads:
        t.start()
    threading.Event().wait(3)
    server.proc.send_signal(signal.SIGKILL)  # mid-burst
    server.proc.wait(30)
    stop.set()
    for t in threads:
        t.join(10)
    with sqlite3.connect(capture_dir / DATABASE) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        after_kill = db.execute("SELECT COUNT(*) FROM traffic").fetchone()[0]
    assert after_kill >= written  # what was committed before the kill is still there
    restarted = Server(result.bundle_dir, "--capture", capture_dir, log_dir=tmp_path)
    try:
        assert httpx.post(restarted.url + "/v1/predict", json=body, timeout=30).status_code == 200
    finally:
        restarted.stop()
    assert not list(capture_dir.glob("*.corrupt-*"))  # the restart found the database sound
