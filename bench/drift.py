"""Drift alerting on a real shift: an SST-2 bundle served by ``tuneforge serve`` receives 2,000
SST-2 dev sentences (drawn with replacement), then 2,000 CoNLL-2003 sentences (news, out of domain).
After every 50 requests the drift scores and thresholds are read from ``/metrics``. The result says
when each score first crossed its threshold (it must not during the in-domain part, and must within
one window of the shift), and the recorded series become a ``promtool test rules`` file checked
against ``deploy/prometheus/alerts.yml`` (one scrape = one minute of recorded time).
Usage: python bench/drift.py --split-dev runs/drift      (writes dev_a.tsv and dev_b.tsv: seeded halves)
       tuneforge train configs/sst2.yaml data.validation=null data.test=runs/drift/dev_a.tsv \
           data.split.validation=0.05 data.max_train_samples=30000 train.epochs=1 output.dir=runs/sst2_drift
       python bench/drift.py runs/sst2_drift/bundle --in-domain runs/drift/dev_b.tsv [--window 500] [--requests 2000]
The bundle's reference profile comes from its test split (dev half A); the in-domain traffic is the
other half, which the profile never saw.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import SHARED_DATA, free_port, machine, start, write_results  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
STEP = 50


def sst2_rows(path: Path) -> tuple[str, list[str]]:
    rows = path.read_bytes().decode().replace("\r", "").splitlines()
    return rows[0], [r for r in rows[1:] if r.strip()]


def split_dev(folder: Path) -> None:
    header, rows = sst2_rows(SHARED_DATA / "sst2" / "dev.tsv")
    random.Random(0).shuffle(rows)
    folder.mkdir(parents=True, exist_ok=True)
    half = len(rows) // 2
    for name, part in (("dev_a.tsv", rows[:half]), ("dev_b.tsv", rows[half:])):
        (folder / name).write_text("\n".join([header, *part]) + "\n", encoding="utf-8")
    print(f"{folder}/dev_a.tsv ({half} rows), {folder}/dev_b.tsv ({len(rows) - half} rows)")


def conll_sentences() -> list[str]:
    from tuneforge.data.readers import read_conll

    return [" ".join(s.tokens) for s in read_conll(SHARED_DATA / "conll2003" / "train.txt") if len(s.tokens) >= 5]


def scrape(client, url: str) -> dict[str, tuple[float, float]]:
    text = client.get(url + "/metrics", timeout=60).text
    score = dict(re.findall(r'tuneforge_drift_score\{signal="(\w+)"\} ([-0-9.e+]+)', text))
    limit = dict(re.findall(r'tuneforge_drift_threshold\{signal="(\w+)"\} ([-0-9.e+]+)', text))
    return {k: (float(score[k]), float(limit[k])) for k in score}


def promtool_test(records: list[dict], signal: str, fire_minute: int, first_ood: int) -> str:
    """A promtool unit-test file replaying one signal's recorded scores (one per minute)."""
    values = [r["scores"].get(signal, (0.0, 0.0))[0] for r in records]
    scores = " ".join(f"{v:.6f}" for v in values)
    limit = records[-1]["scores"][signal][1]
    silent = max(0, first_ood - 1)
    return f"""rule_files:
  - {ROOT / 'deploy' / 'prometheus' / 'alerts.yml'}
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'tuneforge_drift_score{{instance="bench", signal="{signal}"}}'
        values: '{scores}'
      - series: 'tuneforge_drift_threshold{{instance="bench", signal="{signal}"}}'
        values: '{limit:.6f}x{len(records)}'
    alert_rule_test:
      - eval_time: {silent}m
        alertname: TuneForgeDrift
        exp_alerts: []
      - eval_time: {fire_minute}m
        alertname: TuneForgeDrift
        exp_alerts:
          - exp_labels: {{severity: warning, instance: bench, signal: {signal}}}
            exp_annotations:
              summary: "traffic drifted from the training data ({signal})"
              description: "drift score {float(f"{values[fire_minute]:.6f}"):.3f} over its threshold for 5 minutes on bench"
"""


def main() -> None:
    import httpx

    parser = argparse.ArgumentParser()
    parser.add_argument("bundle", type=Path, nargs="?")
    parser.add_argument("--in-domain", type=Path, default=SHARED_DATA / "sst2" / "dev.tsv")
    parser.add_argument("--split-dev", type=Path)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--from-results", action="store_true", help="rebuild the table and the promtool test "
                        "from bench/results/drift.json without sending traffic again")
    args = parser.parse_args()
    if args.split_dev:
        return split_dev(args.split_dev)
    if args.from_results:
        saved = json.loads((ROOT / "bench" / "results" / "drift.json").read_text())
        args.bundle, args.in_domain, args.window = saved["bundle"], saved["in_domain"], saved["window"]
        args.requests = saved["requests_each"]
        return report(args, saved["records"])
    rng = random.Random(0)
    sentences = [r.split("\t")[0] for r in sst2_rows(args.in_domain)[1]]
    in_domain = [rng.choice(sentences) for _ in range(args.requests)]
    out_domain = rng.sample(conll_sentences(), args.requests)
    port = free_port()
    server = start([sys.executable, "-m", "tuneforge", "serve", str(args.bundle), "--port", str(port),
                    "--drift-window", str(args.window)], port)
    url = f"http://127.0.0.1:{port}"
    records: list[dict] = []
    try:
        with httpx.Client() as client:
            for n, text in enumerate(in_domain + out_domain, start=1):
                client.post(url + "/v1/predict", json={"text": text}, timeout=60).raise_for_status()
                if n % STEP == 0:
                    records.append({"requests": n, "out_of_domain": max(0, n - args.requests),
                                    "scores": scrape(client, url)})
    finally:
        server.terminate()
        server.wait(30)
    report(args, records)


def report(args, records: list[dict]) -> None:
    """The table, the promtool replay of the recorded embedding series, and the result files."""
    signals = sorted({s for r in records for s in r["scores"]})
    crossed = {}
    for signal in signals:
        first = next((r for r in records if signal in r["scores"] and r["scores"][signal][0] > r["scores"][signal][1]),
                     None)
        crossed[signal] = None if first is None else first["requests"]
    before_shift = {s: any(r["scores"][s][0] > r["scores"][s][1] for r in records
                           if r["requests"] <= args.requests and s in r["scores"]) for s in signals}
    results = {"bundle": str(args.bundle), "in_domain": str(args.in_domain), "window": args.window, "requests_each": args.requests,
               "first_crossing_at_request": crossed, "crossed_before_shift": before_shift, "records": records}
    promtool = shutil.which("promtool")
    first_ood = args.requests // STEP
    lines = ["# Drift alerting: SST-2 dev, then CoNLL-2003 sentences", "",
             f"Bundle `{args.bundle}`, window {args.window}; scores read every {STEP} requests; "
             f"requests 1-{args.requests} drawn from `{args.in_domain}`, then {args.requests} CoNLL-2003 "
             "sentences.", "",
             "| signal | threshold | largest in domain | first crossing (request) | out-of-domain requests by then |",
             "|---|---:|---:|---:|---:|"]
    for s in signals:
        inside = max((r["scores"][s][0] for r in records if r["requests"] <= args.requests and s in r["scores"]),
                     default=float("nan"))
        at = crossed[s]
        lines.append(f"| {s} | {records[-1]['scores'][s][1]:.4f} | {inside:.4f} | {at or 'never'} | "
                     f"{'' if at is None else max(0, at - args.requests)} |")
    if promtool and crossed.get("embedding"):
        minute = crossed["embedding"] // STEP - 1 + 5  # crossed at that scrape; `for: 5m` fires 5 scrapes later
        test = promtool_test(records, "embedding", minute, first_ood)
        path = ROOT / "bench" / "results" / "drift_promtool_test.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(test, encoding="utf-8")
        ran = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True)
        results["promtool"] = {"returncode": ran.returncode, "output": ran.stdout + ran.stderr}
        lines += ["", f"`promtool test rules bench/results/drift_promtool_test.yml` (the recorded embedding series, "
                      f"one scrape per minute): {'SUCCESS' if ran.returncode == 0 else 'FAILED'}; the alert is silent "
                      f"at minute {max(0, first_ood - 1)} (before the shift) and fires at minute {minute}."]
    results["machine"] = machine()
    write_results("drift", results, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
