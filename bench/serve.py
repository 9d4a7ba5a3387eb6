"""Serving load test on loopback: TuneForge's server against a naive FastAPI endpoint, then a soak.

Our server (PyTorch backend, and the bundle's ONNX variant) and the naive one serve the same SST-2
bundle, each in its own process, and are measured in this run with
the same asyncio httpx load generator: closed loops at concurrency 1, 8 and 32, each sending one
real SST-2 dev sentence per request for ``--seconds``. The naive endpoint runs the model once per
request (``def`` handler, FastAPI's thread pool), as most tutorials do. Then a soak of ``--soak``
seconds at half of our best measured throughput (open loop, fixed rate): 5xx count and the server's
resident memory, sampled every 5 s (growth = last sample minus the first after warm-up).
Usage: python bench/serve.py [--bundle runs/sst2-onnx/bundle] [--backends torch,onnx] [--seconds 20] [--soak 600]
[--rounds 1] (rounds: every server measured that many times in rotating order, the median round kept)
(the bundle: ``runs/sst2-accept/bundle`` copied and exported with ``tuneforge export ... --data dev.tsv``)
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, free_port, machine, start, write_results  # noqa: E402

NAIVE = '''
import sys
from fastapi import FastAPI
from pydantic import BaseModel
from tuneforge.predictor import Predictor

predictor = Predictor.load(sys.argv[1], precision="fp32")  # the naive baseline: PyTorch fp32
app = FastAPI()

class Body(BaseModel):
    text: str

@app.post("/v1/predict")
def predict(body: Body):
    return {"predictions": predictor.predict([{"text": body.text}])}

@app.get("/readyz")
def readyz():
    return {"status": "ready"}

if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
'''


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


async def closed_loop(url: str, texts: list[str], concurrency: int, seconds: float) -> dict:
    """``concurrency`` workers, each sending its next request as soon as the last one answered."""
    import httpx

    latencies, statuses = [], {}
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def worker(offset: int):
            i = offset
            while time.perf_counter() < stop:
                started = time.perf_counter()
                try:
                    response = await client.post(url, json={"text": texts[i % len(texts)]})
                    status = response.status_code
                except httpx.HTTPError:
                    status = "error"
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    latencies.append(time.perf_counter() - started)
                i += concurrency

        started = time.perf_counter()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"concurrency": concurrency, "requests": sum(statuses.values()), "ok": len(latencies),
            "rps": len(latencies) / elapsed, "p50_ms": 1000 * statistics.median(latencies),
            "p95_ms": 1000 * percentile(latencies, 95), "p99_ms": 1000 * percentile(latencies, 99),
            "statuses": {str(k): v for k, v in statuses.items()}}


async def open_loop(url: str, texts: list[str], rate: float, seconds: float, pid: int) -> dict:
    """Requests at a fixed rate (not waiting for answers, at most 256 in flight); 5xx and memory."""
    import httpx

    statuses, memory, tasks = {}, [], set()
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=256)) as client:
        async def one(text):
            try:
                status = (await client.post(url, json={"text": text})).status_code
            except httpx.HTTPError:
                status = "error"
            statuses[status] = statuses.get(status, 0) + 1

        started = time.perf_counter()
        sent, next_sample = 0, started
        while (now := time.perf_counter()) - started < seconds:
            if now >= next_sample:
                memory.append((round(now - started, 1), rss_mb(pid)))
                next_sample += 5
            due = int((now - started) * rate)
            while sent < due and len(tasks) < 256:
                task = asyncio.create_task(one(texts[sent % len(texts)]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            await asyncio.sleep(0.002)
        await asyncio.gather(*tasks)
    memory.append((round(time.perf_counter() - started, 1), rss_mb(pid)))
    warm = [m for t, m in memory if t >= 30] or [m for _, m in memory]
    five = sum(v for k, v in statuses.items() if str(k).startswith("5"))
    return {"seconds": seconds, "rate": rate, "sent": sent, "statuses": {str(k): v for k, v in statuses.items()},
            "5xx": five, "rss_first_mb": warm[0], "rss_last_mb": warm[-1], "rss_max_mb": max(warm),
            "rss_growth_mb": warm[-1] - warm[0], "memory": memory}


def measure_server(name: str, args, texts: list[str], levels: list[int], naive_script: Path,
                   soak_rate: float | None = None):
    """Start server ``name``, run the closed loops at ``levels`` (or, with ``soak_rate``, the soak), stop it."""
    port = free_port()
    if name.startswith("tuneforge"):
        cmd = [sys.executable, "-m", "tuneforge", "serve", args.bundle, "--port", str(port), "--max-queue", "1024",
               "--backend", name.split("-", 1)[1]]
    else:
        cmd = [sys.executable, str(naive_script), args.bundle, str(port)]
    proc = start(cmd, port)
    url = f"http://127.0.0.1:{port}/v1/predict"
    rows = []
    try:
        asyncio.run(closed_loop(url, texts, 4, 3))  # warm-up
        runs_on = "PyTorch fp32"
        if name.startswith("tuneforge"):  # what the server runs (``--backend auto``: what it picked)
            import httpx

            info = httpx.get(url.replace("/predict", "/models"), timeout=30).json()
            runs_on = f"{info['backend']}" + (f" {info['precision']}" if info["backend"] == "torch" else "")
        if soak_rate:
            soak = {"server": name, **asyncio.run(open_loop(url, texts, soak_rate, args.soak, proc.pid))}
            print({k: v for k, v in soak.items() if k != "memory"}, flush=True)
            return soak
        for c in levels:
            rows.append({"server": name, "runs_on": runs_on, **asyncio.run(closed_loop(url, texts, c, args.seconds))})
            print(rows[-1], flush=True)
    finally:
        proc.terminate()
        proc.wait(60)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", default="runs/sst2-onnx/bundle")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--soak", type=float, default=600)
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--backends", default="torch,onnx",
                        help="backends of our server, each measured (onnx needs an exported bundle)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds over every server, in rotating order; each figure is the median round")
    args = parser.parse_args()
    with open(SHARED_DATA / "sst2" / "dev.tsv", newline="", encoding="utf-8") as handle:
        texts = [row["sentence"] for row in csv.DictReader(handle, delimiter="\t")]
    levels = [int(c) for c in args.concurrency.split(",")]
    naive_script = Path(os.environ.get("TMPDIR", "/tmp")) / "tuneforge_naive_server.py"
    naive_script.write_text(NAIVE, encoding="utf-8")
    rows, soak = [], None
    servers = [f"tuneforge-{b}" for b in args.backends.split(",")] + ["naive"]
    measured: list[dict] = []
    for turn in range(args.rounds):  # rotating order: drift in machine load falls on every server alike
        for name in servers[turn % len(servers):] + servers[: turn % len(servers)]:
            measured += measure_server(name, args, texts, levels, naive_script)
    for name in servers:
        for c in levels:
            runs = sorted((r for r in measured if r["server"] == name and r["concurrency"] == c), key=lambda r: r["rps"])
            rows.append({**runs[len(runs) // 2], "rounds_rps": [round(r["rps"], 1) for r in runs]})
    if args.soak > 0:  # the last of our servers (onnx when measured)
        soak = measure_server(servers[-2], args, texts, [], naive_script,
                              soak_rate=max(r["rps"] for r in rows if r["server"] == servers[-2]) / 2)
    lines = ["| server | runs on | concurrency | requests/s | p50 ms | p95 ms | p99 ms | non-200 |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        bad = sum(v for k, v in r["statuses"].items() if k != "200")
        lines.append(f"| {r['server']} | {r['runs_on']} | {r['concurrency']} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                     f"{r['p99_ms']:.1f} | {bad} |")
    table = "\n".join(lines) + "\n"
    for ours_name in servers[:-1]:
        ratios = []
        for c in levels:
            ours = next(r for r in rows if r["server"] == ours_name and r["concurrency"] == c)
            naive = next(r for r in rows if r["server"] == "naive" and r["concurrency"] == c)
            ratios.append(f"c={c}: {ours['rps'] / naive['rps']:.2f}x")
        table += f"\nThroughput ratio, {ours_name} / naive: {', '.join(ratios)}."
    table += "\n"
    if soak:
        table += (f"\nSoak ({soak['server']}): {soak['seconds']:.0f} s at {soak['rate']:.1f} requests/s (half of its best), "
                  f"{soak['sent']} requests, {soak['5xx']} 5xx, statuses {soak['statuses']}; server RSS "
                  f"{soak['rss_first_mb']:.0f} MB after warm-up -> {soak['rss_last_mb']:.0f} MB at the end "
                  f"(growth {soak['rss_growth_mb']:+.1f} MB, max {soak['rss_max_mb']:.0f} MB).\n")
    table += (f"\nSST-2 dev sentences, one per request, bundle {args.bundle}; {args.seconds:.0f} s per level, median of "
              f"{args.rounds} round(s) in rotating order; "
              "our server with its defaults (max batch 32, max wait 5 ms) and --max-queue 1024, with the PyTorch model "
              "(tuneforge-torch) and with the bundle's default ONNX variant (tuneforge-onnx: int8, see the compression "
              "table); the naive endpoint runs the PyTorch model once per request. The load generator shares the "
              "machine's 2 cores.\n")
    write_results("serve", {"machine": machine(), "args": vars(args), "rows": rows, "soak": soak}, table)


if __name__ == "__main__":
    main()
