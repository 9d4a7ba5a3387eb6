"""Serving throughput with two replicas behind a local round-robin nginx against one replica, same concurrency.

Three configurations of ``tuneforge serve`` on one bundle, each measured with bench/serve.py's closed-loop
load generator (SST-2 dev sentences, one per request) at the same concurrency for ``--seconds`` after a
warm-up of ``--warmup`` seconds at that concurrency:
(1) one replica, direct; (2) the same replica behind nginx (the proxy's own cost); (3) two replicas behind
nginx, round robin. Every process stays up for the whole run, so ``--rounds N`` measures the three in
rotating order N times (medians reported). All replicas share the machine's cores (no pinning): the one
replica gets ``cores`` threads, each of the two ``cores // 2`` (OMP/MKL/RAYON_NUM_THREADS; ``--threads``).
Each replica's /metrics request counter and nginx's access log ($upstream_addr) show how the requests were
split; CPU seconds of each process over each window show who used the cores. Needs nginx
(``apt-get install -y nginx``); the nginx.conf is written to a temporary folder.
Usage: python bench/replicas.py BUNDLE [--backend torch] [--concurrency 32] [--seconds 20] [--rounds 1] [--out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402
from common import SHARED_DATA, free_port, machine, start, write_results  # noqa: E402
from serve import closed_loop  # noqa: E402

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS")
TICK = os.sysconf("SC_CLK_TCK")
NGINX_CONF = """daemon off;
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    log_format upstreams '$server_port $upstream_addr $status';
    access_log {tmp}/access.log upstreams;
    keepalive_requests 1000000;
{blocks}}}
"""
NGINX_BLOCK = """    upstream {name} {{
{servers}        keepalive {keepalive};
        keepalive_requests 1000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{name};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
"""


@contextlib.contextmanager
def environment(values: dict[str, str]):
    """``os.environ`` with ``values`` set (children started inside inherit them), restored afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()  # fields from the state on


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (nginx's workers)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                parents[int(entry.name)] = int(_stat(int(entry.name))[1])
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def cpu_snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far of each process group, of this process (the load generator) and of the machine."""
    snap = {}
    for name, pids in groups.items():
        seconds = 0.0
        for pid in pids:
            with contextlib.suppress(OSError):
                fields = _stat(pid)
                seconds += (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
        snap[name] = seconds
    usage = resource.getrusage(resource.RUSAGE_SELF)
    snap["load generator"] = usage.ru_utime + usage.ru_stime
    ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    snap["machine"] = (ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6]) / TICK  # user nice system irq softirq
    snap["steal"] = ticks[7] / TICK
    snap["time"] = time.perf_counter()
    return snap


def predict_count(port: int) -> float:
    """Requests to /v1/predict the replica on ``port`` has answered (any status), from its /metrics."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(s.value for family in text_string_to_metric_families(text) for s in family.samples
               if s.name == "tuneforge_requests_total" and s.labels.get("route") == "/v1/predict")


def nginx_split(log: Path, offset: int, listen_port: int) -> tuple[dict[str, int], int]:
    """Requests per upstream address (and status) in nginx's access log after ``offset``; the new offset."""
    with open(log, "rb") as handle:
        handle.seek(offset)
        lines = handle.read().decode().splitlines()
        end = handle.tell()
    split = {}
    for line in lines:
        port, *upstream, status = line.split()  # a retried request lists its upstreams with ", "
        if int(port) == listen_port:
            key = f"{' '.join(upstream)} {status}"
            split[key] = split.get(key, 0) + 1
    return split, end


def torch_threads(env: dict[str, str]) -> int:
    """torch.get_num_threads() in a fresh interpreter with ``env`` set, as each replica starts."""
    code = "import torch; print(torch.get_num_threads())"
    with environment(env):
        return int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def proc_facts(pid: int) -> dict:
    threads = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("Threads:"))
    return {"os_threads": threads, "cpu_affinity": sorted(os.sched_getaffinity(pid))}


def find_nginx() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin:/usr/local/sbin")
    if not found:
        sys.exit("bench/replicas.py needs nginx as the round-robin proxy and it is not installed: "
                 "`sudo apt-get install -y nginx` (Debian/Ubuntu), or put an nginx binary on PATH.")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundle")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load before each measured window")
    parser.add_argument("--rounds", type=int, default=1, help="measure the three configurations this often, rotating")
    cores = len(os.sched_getaffinity(0))
    parser.add_argument("--threads", default=f"{cores},{max(1, cores // 2)}",
                        help="threads of the one replica, and of each of the two")
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=common.RESULTS, help="folder for replicas.json and .md")
    args = parser.parse_args()
    nginx = find_nginx()
    with open(SHARED_DATA / "sst2" / "dev.tsv", newline="", encoding="utf-8") as handle:
        texts = [row["sentence"] for row in csv.DictReader(handle, delimiter="\t")]
    one_threads, two_threads = (int(t) for t in args.threads.split(","))
    replicas = {"A": one_threads, "B1": two_threads, "B2": two_threads}  # A serves (1) and (2); B1 + B2 serve (3)
    procs, facts, tmp = {}, {}, Path(tempfile.mkdtemp(prefix="tuneforge-replicas-"))
    try:
        for name, threads in replicas.items():
            port = free_port()
            env = {k: str(threads) for k in THREAD_VARIABLES}
            cmd = [sys.executable, "-m", "tuneforge", "serve", args.bundle, "--port", str(port), "--max-queue", "1024",
                   "--backend", args.backend]
            with environment(env):
                procs[name] = start(cmd, port)
            facts[name] = {"port": port, "pid": procs[name].pid, "env": env,
                           "torch_threads": torch_threads(env), **proc_facts(procs[name].pid)}
            print(name, facts[name], flush=True)
        ports = {"one": free_port(), "two": free_port()}
        upstreams = {"one": ["A"], "two": ["B1", "B2"]}
        blocks = "".join(NGINX_BLOCK.format(
            name=u, port=ports[u], keepalive=max(64, args.concurrency),
            servers="".join(f"        server 127.0.0.1:{facts[r]['port']};\n" for r in members))
            for u, members in upstreams.items())
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(workers=args.nginx_workers, tmp=tmp, blocks=blocks), encoding="utf-8")
        nginx_cmd = [nginx, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")]
        check = subprocess.run([*nginx_cmd, "-t", "-q"], check=False, capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejected {conf}: {check.stderr.strip()}")
        procs["nginx"] = start(nginx_cmd, ports["one"], timeout=30)
        configurations = [
            ("(1) 1 replica, direct", f"http://127.0.0.1:{facts['A']['port']}", ["A"], None),
            ("(2) 1 replica via nginx", f"http://127.0.0.1:{ports['one']}", ["A"], ports["one"]),
            ("(3) 2 replicas via nginx", f"http://127.0.0.1:{ports['two']}", ["B1", "B2"], ports["two"]),
        ]
        groups = {name: process_tree(p.pid) for name, p in procs.items()}
        log, offset, rows = tmp / "access.log", 0, []
        for round_ in range(args.rounds):
            for k in range(len(configurations)):
                label, base, members, listen = configurations[(k + round_) % len(configurations)]
                asyncio.run(closed_loop(base + "/v1/predict", texts, args.concurrency, args.warmup))
                before = {r: predict_count(facts[r]["port"]) for r in members}
                offset = nginx_split(log, offset, 0)[1]
                cpu_before = cpu_snapshot(groups)
                row = {"configuration": label, "round": round_ + 1, "replicas": members,
                       "threads_per_replica": replicas[members[0]],
                       **asyncio.run(closed_loop(base + "/v1/predict", texts, args.concurrency, args.seconds))}
                cpu_after = cpu_snapshot(groups)
                time.sleep(0.5)  # the servers count a request just after its answer went out
                row["split"] = {r: int(predict_count(facts[r]["port"]) - before[r]) for r in members}
                row["nginx_split"], offset = nginx_split(log, offset, listen or 0)
                elapsed = cpu_after["time"] - cpu_before["time"]
                used = {g: (cpu_after[g] - cpu_before[g]) / elapsed for g in cpu_after if g != "time"}
                ours = sum(v for g, v in used.items() if g not in ("machine", "steal"))
                used["other processes"] = max(0.0, used["machine"] - ours)  # clock ticks: can dip below 0
                row["cores_used"] = {g: round(v, 3) for g, v in used.items()}
                row["os_threads"] = {r: proc_facts(procs[r].pid)["os_threads"] for r in members}
                rows.append(row)
                print(row, flush=True)
        errors = [line for line in (tmp / "error.log").read_text().splitlines()
                  if any(f"[{level}]" in line for level in ("warn", "error", "crit", "alert", "emerg"))]
        nginx_version = subprocess.run([nginx, "-v"], check=False, capture_output=True, text=True).stderr.strip()
        conf_text = conf.read_text()
    finally:
        for proc in reversed(procs.values()):
            proc.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(60)
        shutil.rmtree(tmp, ignore_errors=True)

    header = ("| configuration | replicas x threads | requests/s | p50 ms | p95 ms | p99 ms | non-200 | "
              "requests per replica |")
    summary, lines = {}, [header, "|---|---|---:|---:|---:|---:|---:|---|"]
    for label, _, members, _ in configurations:
        mine = [r for r in rows if r["configuration"] == label]
        med = {k: statistics.median(r[k] for r in mine) for k in ("rps", "p50_ms", "p95_ms", "p99_ms")}
        bad = sum(v for r in mine for s, v in r["statuses"].items() if s != "200")
        split = {m: sum(r["split"][m] for r in mine) for m in members}
        total = sum(split.values()) or 1
        summary[label] = {**med, "non_200": bad, "split": split}
        shown = ", ".join(f"{m}: {n} ({100 * n / total:.1f}%)" if len(members) > 1 else f"{m}: {n}"
                          for m, n in split.items())
        lines.append(f"| {label} | {len(members)} x {replicas[members[0]]} | {med['rps']:.1f} | {med['p50_ms']:.1f} | "
                     f"{med['p95_ms']:.1f} | {med['p99_ms']:.1f} | {bad} | {shown} |")
    one, proxied, two = (summary[c[0]]["rps"] for c in configurations)
    summary["ratio_3_to_1"], summary["ratio_2_to_1"] = two / one, proxied / one
    table = "\n".join(lines) + "\n"
    table += f"\nThroughput ratio (3) / (1): {two / one:.2f}x"
    if args.rounds > 1:
        per_round = [next(r["rps"] for r in rows if r["configuration"] == configurations[2][0] and r["round"] == n)
                     / next(r["rps"] for r in rows if r["configuration"] == configurations[0][0] and r["round"] == n)
                     for n in range(1, args.rounds + 1)]
        table += f" (per round: {', '.join(f'{x:.2f}x' for x in per_round)})"
    table += f"; proxy alone, (2) / (1): {proxied / one:.2f}x"
    table += ".\n\nCores used during each measured window (CPU seconds / wall seconds; first round):\n\n"
    columns = ["A", "B1", "B2", "nginx", "load generator", "other processes", "machine", "steal"]
    table += "| configuration | " + " | ".join(columns) + " |\n|---|" + "---:|" * len(columns) + "\n"
    for r in (r for r in rows if r["round"] == 1):
        table += f"| {r['configuration']} | " + " | ".join(f"{r['cores_used'][c]:.2f}" for c in columns) + " |\n"
    table += (f"\nBundle {args.bundle}, backend {args.backend}; SST-2 dev sentences, one per request; concurrency "
              f"{args.concurrency}, {args.seconds:g} s per configuration after {args.warmup:g} s of warm-up"
              f"{f', median of {args.rounds} rounds in rotating order' if args.rounds > 1 else ''}. Each replica is "
              f"`tuneforge serve --max-queue 1024` on loopback (no API key needed there); replica A ({one_threads} "
              f"thread(s)) serves (1) and (2), B1 and B2 ({two_threads} thread(s) each) serve (3); all three and "
              f"nginx stay up throughout and share the same {cores} cores (CPUs {facts['A']['cpu_affinity']}, no "
              f"pinning) with the load generator. Threads set by {', '.join(THREAD_VARIABLES)}; torch in each "
              f"replica's environment reported {facts['A']['torch_threads']} and {facts['B1']['torch_threads']} "
              f"threads. {nginx_version}, {args.nginx_workers} worker process(es), round robin, keepalive to the "
              f"upstreams. Requests per replica: each replica's /metrics counter of /v1/predict over the window.\n")
    busy = max(r["cores_used"]["other processes"] for r in rows)
    if busy > 0.2:
        table += (f"\nOther processes used up to {busy:.2f} cores during a measured window: the machine was not "
                  "quiet, so these figures understate what it can do.\n")
    if args.backend != "torch":
        table += ("\nThe thread variables limit PyTorch; ONNX Runtime sessions keep their own default "
                  "(one thread per physical core) in every replica.\n")
    if errors:
        table += f"\nnginx logged {len(errors)} warning(s)/error(s); the first: {errors[0]}\n"
    common.RESULTS = args.out
    write_results("replicas", {"machine": machine(), "args": {**vars(args), "out": str(args.out)}, "replicas": facts,
                               "nginx": {"version": nginx_version, "conf": conf_text, "errors": errors},
                               "rows": rows, "summary": summary}, table)


if __name__ == "__main__":
    main()
