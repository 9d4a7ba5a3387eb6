"""Opt-in capture of served inputs and outputs (``tuneforge serve --capture DIR``) into SQLite.

The request path only offers rows to a bounded queue (``put_nowait``); a writer thread masks personal
data (``tuneforge.data.pii.mask_for_logs``: Presidio where installed, else e-mail addresses and long
numbers), writes in transactions to ``DIR/capture.sqlite3`` in WAL mode, and applies retention (rows
beyond ``max_rows`` and older than ``max_days`` are deleted). A full queue drops the row and counts it
(``tuneforge_capture_dropped_total``), so ``written + dropped = offered`` exactly. At start the
database is checked (``PRAGMA integrity_check``); one that fails is moved aside and a new one begun.

Example:
    >>> capture = Capture("captured", rate=0.5)
    >>> capture.offer(examples, predictions, "sentiment")
"""

from __future__ import annotations

import json
import logging
import queue
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("tuneforge")

DATABASE = "capture.sqlite3"
SCHEMA = """CREATE TABLE IF NOT EXISTS traffic (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, model TEXT, text TEXT, text_pair TEXT, label TEXT,
    confidence REAL, prediction TEXT)"""
BATCH = 500
_STOP = object()


def open_database(path: Path) -> sqlite3.Connection:
    """The capture database in WAL mode, checked; a corrupt one is moved aside first."""
    if path.exists():
        try:
            with sqlite3.connect(path) as probe:
                verdict = probe.execute("PRAGMA integrity_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            verdict = str(exc)
        if verdict != "ok":
            aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
            path.rename(aside)
            log.error("capture: %s failed its integrity check (%s); moved to %s, starting a new one", path,
                      verdict, aside.name)
    connection = sqlite3.connect(path, check_same_thread=False, timeout=30)  # several workers share it
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute(SCHEMA)
    connection.commit()
    return connection


class Capture:
    """A bounded queue in front of a SQLite writer thread."""

    def __init__(self, folder: str | Path, registry, rate: float = 1.0, max_rows: int = 1_000_000,
                 max_days: float = 30.0, queue_size: int = 10_000, seed: int | None = None) -> None:
        from prometheus_client import Counter

        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / DATABASE
        self.connection = open_database(self.path)
        self.rate, self.max_rows, self.max_days = rate, max_rows, max_days
        self.queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.random = random.Random(seed)
        self.offered = Counter("tuneforge_capture_offered_total", "predictions sampled for capture", registry=registry)
        self.written = Counter("tuneforge_capture_written_total", "captured rows written", registry=registry)
        self.dropped = Counter("tuneforge_capture_dropped_total", "captured rows dropped (queue full)",
                               registry=registry)
        self.thread = threading.Thread(target=self._write_loop, name="capture-writer", daemon=True)
        self.thread.start()

    def offer(self, examples: list[dict[str, Any]], predictions: list[dict[str, Any]], model: str) -> None:
        """Queue a response's rows (sampled at ``rate``) without ever waiting; a full queue drops them."""
        now = time.time()
        for example, prediction in zip(examples, predictions):
            if self.rate < 1.0 and self.random.random() >= self.rate:
                continue
            self.offered.inc()
            try:
                self.queue.put_nowait((now, model, example, prediction))
            except queue.Full:
                self.dropped.inc()

    def _rows(self, items):
        from ..data.pii import mask_for_logs

        texts = mask_for_logs([str(e.get("text") or "") for _, _, e, _ in items])
        pairs = mask_for_logs([str(e.get("text_pair") or "") for _, _, e, _ in items])
        for (at, model, example, prediction), text, pair in zip(items, texts, pairs):
            label = prediction.get("label", prediction.get("labels"))
            scores = prediction.get("scores") or {}
            yield (at, model, text, pair if example.get("text_pair") else None,
                   json.dumps(label) if isinstance(label, list) else label,
                   prediction.get("score", max(scores.values(), default=None)),
                   json.dumps({k: v for k, v in prediction.items() if k not in ("text", "text_pair")}))

    def _write_loop(self) -> None:
        last_retention = 0.0
        stopping = False
        while not stopping:
            try:
                first = self.queue.get(timeout=0.2)
            except queue.Empty:
                continue
            items = []
            for item in [first] + [self.queue.get_nowait() for _ in range(min(BATCH - 1, self.queue.qsize()))]:
                if item is _STOP:
                    stopping = True
                else:
                    items.append(item)
            if items:
                try:
                    with self.connection:
                        self.connection.executemany("INSERT INTO traffic (at, model, text, text_pair, label, "
                                                    "confidence, prediction) VALUES (?, ?, ?, ?, ?, ?, ?)",
                                                    list(self._rows(items)))
                    self.written.inc(len(items))
                except Exception as exc:  # the service goes on; the rows count as dropped
                    self.dropped.inc(len(items))
                    log.error("capture: %d rows not written (%s: %s)", len(items), type(exc).__name__, exc)
            if time.time() - last_retention > 30 or stopping:
                self.apply_retention()
                last_retention = time.time()

    def apply_retention(self) -> None:
        """Delete rows older than ``max_days`` and beyond the newest ``max_rows``."""
        with self.connection:
            self.connection.execute("DELETE FROM traffic WHERE at < ?", (time.time() - self.max_days * 86400,))
            self.connection.execute("DELETE FROM traffic WHERE id <= (SELECT MAX(id) FROM traffic) - ?",
                                    (self.max_rows,))

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer."""
        try:
            self.queue.put(_STOP, timeout=timeout)
        except queue.Full:
            pass
        self.thread.join(timeout)
        self.connection.close()
