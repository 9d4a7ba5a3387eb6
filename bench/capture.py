"""Traffic capture under a burst: 5,000 requests (one SST-2 dev sentence each) at concurrency 32 to
``tuneforge serve --capture``; then the rows in the database are compared with the 200 responses and
the drop counter. A second burst is cut by SIGKILL; the database must pass ``PRAGMA integrity_check``
and the server must start again on it.
Usage: python bench/capture.py BUNDLE [--requests 5000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, free_port, machine, start, write_results  # noqa: E402


def sentences() -> list[str]:
    rows = (SHARED_DATA / "sst2" / "dev.tsv").read_bytes().decode().replace("\r", "").splitlines()[1:]
    return [r.split("\t")[0] for r in rows if r.strip()]


async def burst(url: str, texts: list[str], concurrency: int) -> dict[int, int]:
    import httpx

    statuses: dict[int, int] = {}
    queue = list(texts)

    async def worker(client):
        while queue:
            text = queue.pop()
            try:
                status = (await client.post(url + "/v1/predict", json={"text": text}, timeout=60)).status_code
            except httpx.HTTPError:
                status = -1
            statuses[status] = statuses.get(status, 0) + 1

    async with httpx.AsyncClient() as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return statuses


def counter(metrics: str, name: str) -> float:
    found = re.search(rf"^{name} ([0-9.e+]+)$", metrics, re.M)
    return float(found.group(1)) if found else 0.0


def main() -> None:
    import httpx

    parser = argparse.ArgumentParser()
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    rng = random.Random(0)
    texts = [rng.choice(sentences()) + f" (call me at +44 20 7946 {i % 10000:04d})" * (i % 7 == 0)
             for i in range(args.requests)]
    folder = Path(tempfile.mkdtemp(prefix="capture-bench-"))
    command = [sys.executable, "-m", "tuneforge", "serve", str(args.bundle), "--capture", str(folder)]
    port = free_port()
    server = start(command + ["--port", str(port)], port)
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    statuses = asyncio.run(burst(url, texts, args.concurrency))
    seconds = time.perf_counter() - started
    time.sleep(2)
    metrics = httpx.get(url + "/metrics", timeout=30).text
    server.send_signal(signal.SIGTERM)
    server.wait(60)
    db = sqlite3.connect(folder / "capture.sqlite3")
    rows = db.execute("SELECT COUNT(*) FROM traffic").fetchone()[0]
    unmasked = db.execute("SELECT COUNT(*) FROM traffic WHERE text LIKE '%7946%'").fetchone()[0]
    db.close()
    first = {"requests": args.requests, "concurrency": args.concurrency, "statuses": statuses,
             "seconds": round(seconds, 1), "rows": rows, "offered": counter(metrics, "tuneforge_capture_offered_total"),
             "written": counter(metrics, "tuneforge_capture_written_total"),
             "dropped": counter(metrics, "tuneforge_capture_dropped_total"), "unmasked_phone_numbers": unmasked}
    port = free_port()
    server = start(command + ["--port", str(port)], port)
    url = f"http://127.0.0.1:{port}"

    async def killed_burst():
        task = asyncio.ensure_future(burst(url, texts, args.concurrency))
        await asyncio.sleep(5)
        server.send_signal(signal.SIGKILL)
        return await task

    second_statuses = asyncio.run(killed_burst())
    server.wait(30)
    db = sqlite3.connect(folder / "capture.sqlite3")
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    rows_after_kill = db.execute("SELECT COUNT(*) FROM traffic").fetchone()[0]
    db.close()
    port = free_port()
    server = start(command + ["--port", str(port)], port)
    restarted = httpx.post(f"http://127.0.0.1:{port}/v1/predict", json={"text": "fine"}, timeout=30).status_code
    server.send_signal(signal.SIGTERM)
    server.wait(60)
    moved_aside = [p.name for p in folder.glob("*.corrupt-*")]
    second = {"statuses_before_kill": second_statuses, "integrity_check": integrity,
              "rows_after_kill": rows_after_kill, "restart_status": restarted, "moved_aside": moved_aside}
    ok = first["statuses"].get(200, 0)
    lines = ["# Capture under a burst", "",
             f"Bundle `{args.bundle}`; {args.requests} requests at concurrency {args.concurrency} in "
             f"{seconds:.1f} s; every 7th text carries a phone number.", "",
             "| 200 responses | rows in the database | offered | written | dropped | unmasked phone numbers |",
             "|---:|---:|---:|---:|---:|---:|",
             f"| {ok} | {rows} | {first['offered']:.0f} | {first['written']:.0f} | {first['dropped']:.0f} | {unmasked} |",
             "", f"SIGKILL 5 s into a second burst: `PRAGMA integrity_check` = **{integrity}**, {rows_after_kill} rows "
             f"kept ({rows_after_kill - rows} from the killed burst), restart answered {restarted}, "
             f"moved aside: {moved_aside or 'nothing'}."]
    write_results("capture", {"burst": first, "sigkill": second, "machine": machine()}, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
