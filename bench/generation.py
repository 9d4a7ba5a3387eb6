"""Generation benchmark, in one run on this machine: training speed and serving throughput of SmolLM2.

1. Training tokens per second, full fine-tuning and LoRA (r=16 on every attention and MLP projection):
   real DialogSum conversations encoded by the generation task (chat template, loss on the summary),
   batches of 8, AdamW; a warm-up step, then ``--steps`` timed steps. Tokens = non-padding tokens fed.
2. Serving: TuneForge's server (static batching, ``--generation-batch 16``) against a naive endpoint
   that calls ``model.generate`` once per request (FastAPI ``def`` handler: requests run in its thread
   pool, each its own ``generate``), both serving the same bundle in their own process, loaded by the
   same closed-loop client at concurrency 1, 4 and 16: each client sends ``--requests`` chat requests
   (LIMA instructions, greedy, ``max_tokens`` 32). Generated tokens per second = completion tokens
   of all requests / wall time of the level.

Usage: python bench/generation.py --bundle runs/lima_lora/bundle [--steps 4] [--requests 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, free_port, machine, start, write_results  # noqa: E402

NAIVE = '''
import sys
from fastapi import FastAPI, Request
from tuneforge import api
from tuneforge.predictor import Predictor

predictor = Predictor.load(sys.argv[1])
app = FastAPI()

@app.post("/v1/chat/completions")
def chat(body: dict):
    prompt = body["messages"][-1]["content"]
    answer = api.generate(predictor, prompts=[prompt], max_new_tokens=body.get("max_tokens", 32))[0]
    return {"choices": [{"message": {"role": "assistant", "content": answer["text"]}}],
            "usage": {"completion_tokens": answer["tokens"]}}

@app.get("/readyz")
def readyz():
    return {"status": "ready"}

if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
'''


def training_speed(method: str, steps: int) -> dict:
    """Tokens per second of forward + backward + AdamW step on real DialogSum conversations."""
    import torch

    from tuneforge.backbone import resolve_backbone
    from tuneforge.config import build_config
    from tuneforge.methods import METHODS
    from tuneforge.model_files import load_tokenizer
    from tuneforge.tasks import get_task

    cfg = build_config({"data": {"train": "-"}, "task": {"type": "generation"},
                        "method": {"name": method, **({"r": 16, "alpha": 32} if method == "lora" else {})}})
    task = get_task("generation").with_options(cfg.task)
    path = resolve_backbone(task.default_backbone)
    tokenizer = load_tokenizer(path)
    task.prepare_tokenizer(tokenizer)
    rows = [json.loads(line) for line in (SHARED_DATA / "dialogsum" / "dialogsum.train.jsonl").open()][: 8 * (steps + 1)]
    examples = [{"messages": [{"role": "user", "content": "Summarize the following dialogue.\n\n" + r["dialogue"]},
                              {"role": "assistant", "content": r["summary"]}]} for r in rows]
    dataset = task.encode(examples, tokenizer, [], 512)
    collate = task.collator(tokenizer)
    method_obj = METHODS.get(method)()
    model = method_obj.apply(method_obj.build_model(task, path, [], cfg.method).model, cfg.method, task)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    tokens, seconds = 0, 0.0
    for step in range(steps + 1):
        batch = collate([dataset[i] for i in range(8 * step, 8 * step + 8)])
        started = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if step:  # the first step warms up
            seconds += time.perf_counter() - started
            tokens += int(batch["attention_mask"].sum())
    return {"method": method, "steps": steps, "tokens": tokens, "seconds": round(seconds, 1),
            "tokens_per_second": round(tokens / seconds, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


async def load(url: str, prompts: list[str], concurrency: int, requests_each: int, max_tokens: int) -> dict:
    import httpx

    generated, failures = 0, 0

    async def client(i: int, http):
        nonlocal generated, failures
        for j in range(requests_each):
            prompt = prompts[(i * requests_each + j) % len(prompts)]
            r = await http.post(url + "/v1/chat/completions", json={
                "model": "bench", "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                "temperature": 0}, timeout=900)
            if r.status_code != 200:
                failures += 1
                continue
            generated += r.json()["usage"]["completion_tokens"]

    async with httpx.AsyncClient() as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(i, http) for i in range(concurrency)))
        wall = time.perf_counter() - started
    return {"concurrency": concurrency, "requests": concurrency * requests_each, "failures": failures,
            "generated_tokens": generated, "seconds": round(wall, 1), "tokens_per_second": round(generated / wall, 2)}


def serving(bundle: str, requests_each: int, max_tokens: int) -> list[dict]:
    lima = json.loads((SHARED_DATA / "lima" / "lima.json").read_text())
    prompts = [r["instruction"][:400] for r in lima if not r["history"]][:64]
    rows = []
    port = free_port()
    naive_file = Path("/tmp/tuneforge_naive_generate.py")
    naive_file.write_text(NAIVE)
    servers = {
        "tuneforge": [sys.executable, "-m", "tuneforge", "serve", bundle, "--port", str(port), "--generation-batch",
                      "16", "--max-new-tokens", str(max_tokens), "--generation-timeout", "900", "--max-queue", "256"],
        "naive": [sys.executable, str(naive_file), bundle, str(port)],
    }
    for name, cmd in servers.items():
        proc = start(cmd, port)
        try:
            for concurrency in (1, 4, 16):
                result = asyncio.run(load(f"http://127.0.0.1:{port}", prompts, concurrency, requests_each, max_tokens))
                rows.append({"server": name, **result})
                print(rows[-1], flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", required=True, help="a generation bundle (e.g. runs/lima_lora/bundle)")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--requests", type=int, default=3, help="requests per client at each concurrency")
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    training = []
    for method in ("full", "lora"):  # each in its own process, so each peak RSS is its own
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            training.append(pool.submit(training_speed, method, args.steps).result())
    for row in training:
        print(row, flush=True)
    serve_rows = serving(args.bundle, args.requests, args.max_tokens)
    ours = {r["concurrency"]: r["tokens_per_second"] for r in serve_rows if r["server"] == "tuneforge"}
    naive = {r["concurrency"]: r["tokens_per_second"] for r in serve_rows if r["server"] == "naive"}
    ratios = {c: round(ours[c] / naive[c], 2) if naive.get(c) else None for c in ours}
    lines = ["# Generation: training and serving (SmolLM2-135M-Instruct)", "",
             f"CPU: {machine()['cpu']['model']} ({', '.join(machine()['cpu']['flags'])}), {machine()['cpus']} cores", "",
             "| training | tokens/s | peak RSS (MB) |", "|---|---:|---:|"]
    lines += [f"| {r['method']} | {r['tokens_per_second']} | {r['peak_rss_mb']} |" for r in training]
    lines += ["", "| concurrency | TuneForge tokens/s | naive tokens/s | ratio |", "|---:|---:|---:|---:|"]
    lines += [f"| {c} | {ours[c]} | {naive.get(c)} | {ratios[c]} |" for c in sorted(ours)]
    write_results("generation", {"machine": machine(), "training": training, "serving": serve_rows, "ratios": ratios},
                  "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
