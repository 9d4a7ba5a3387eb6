"""The runs table, a run's page, its report, side-by-side comparison: read from run folders as training
leaves them (written here without training)."""

from __future__ import annotations

import os
import re
import time

from tuneforge.tasks import TASKS
from tuneforge.ui.runs_index import scan_runs

from .conftest import write_run

TASK = TASKS.names()[0]
METRIC = TASKS.get(TASK).default_metric


def test_statuses_and_headline_metrics(workdir):
    runs = workdir / "runs"
    write_run(runs, "done", metrics={"split": "test", METRIC: 0.75, "n": 8})
    write_run(runs, "broken", marker="FAILED")
    write_run(runs, "stopped", metrics=None, marker="CANCELLED")
    old = write_run(runs, "abandoned")
    stamp = time.time() - 3600
    os.utime(old / "train.log", (stamp, stamp))
    os.utime(old / "config.yaml", (stamp, stamp))
    write_run(runs, "fresh")  # its log moved seconds ago: running, though no process of ours runs it
    (runs / ".ui").mkdir()
    (runs / "not-a-run").mkdir()
    found = {r.name: r for r in scan_runs(runs)}
    assert {n: r.status for n, r in found.items()} == {
        "done": "finished", "broken": "failed", "stopped": "cancelled", "abandoned": "incomplete", "fresh": "running"}
    assert (found["done"].metric, found["done"].value, found["done"].split) == (METRIC, 0.75, "test")
    assert found["broken"].error == "why"


def test_runs_table_filters_and_sorts(client, workdir):
    runs = workdir / "runs"
    write_run(runs, "alpha", method="m-one", metrics={METRIC: 0.5})
    write_run(runs, "beta", method="m-two", metrics={METRIC: 0.9})
    write_run(runs, "gamma", method="m-two", marker="FAILED")
    page = client.get("/runs?sort=value&order=desc").text
    names = re.findall(r'class="run-link">([^<]+)<', page)
    assert names[:2] == ["beta", "alpha"]
    page = client.get("/runs?sort=value&order=asc").text
    assert re.findall(r'class="run-link">([^<]+)<', page)[-2:] == ["alpha", "beta"]
    assert re.findall(r'class="run-link">([^<]+)<', client.get("/runs?method=m-two").text) in (
        ["beta", "gamma"], ["gamma", "beta"])
    assert re.findall(r'class="run-link">([^<]+)<', client.get("/runs?status=failed").text) == ["gamma"]
    assert re.findall(r'class="run-link">([^<]+)<', client.get("/runs?q=alp").text) == ["alpha"]


def test_run_page_embeds_a_sandboxed_report(client, workdir):
    folder = write_run(workdir / "runs", "done", metrics={METRIC: 0.5},
                       history=[{"step": 2, "loss": 0.7}, {"step": 4, "loss": 0.5}, {"step": 4, "eval_loss": 0.6}])
    (folder / "report.html").write_text("<html><body><h1>the report</h1><script>alert(1)</script></body></html>")
    page = client.get("/runs/done")
    assert page.status_code == 200
    assert re.search(r'<iframe[^>]+src="/report/run/done"[^>]+sandbox', page.text)
    assert "<polyline" in page.text  # the learning curve
    assert "<b>lora</b>" in page.text
    report = client.get("/report/run/done")
    assert "the report" in report.text
    assert "sandbox" in report.headers["content-security-policy"]
    assert "script-src" not in report.headers["content-security-policy"]  # default-src 'none': no script runs
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_compare_puts_metrics_side_by_side_and_overlays_curves(client, workdir):
    runs = workdir / "runs"
    write_run(runs, "one", method="m-one", metrics={METRIC: 0.5}, history=[{"step": 1, "loss": 0.9}, {"step": 2, "loss": 0.7}])
    write_run(runs, "two", method="m-two", metrics={METRIC: 0.8}, history=[{"step": 1, "loss": 0.8}, {"step": 2, "loss": 0.4}])
    page = client.get("/compare?run=one&run=two")
    assert page.status_code == 200
    assert "0.5000" in page.text and "0.8000" in page.text
    assert page.text.count("<polyline") == 2  # one loss chart, both runs on it
    assert "method.name" in page.text  # the setting that differs
    assert client.get("/compare?run=one").status_code == 422


def test_names_and_content_are_escaped(client, workdir):
    write_run(workdir / "runs", "x<script>alert(1)<", method="<img src=x onerror=alert(1)>", metrics={METRIC: 0.5})
    page = client.get("/runs").text
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def test_run_paths_cannot_leave_the_runs_folder(client, workdir, tmp_path):
    outside = write_run(tmp_path, "outside", metrics={METRIC: 0.5})
    (outside / "report.html").write_text("secret report")
    (workdir / "runs" / "link").symlink_to(outside)
    for url in ("/runs/..%2F..%2Foutside", "/runs/link", "/report/run/link", f"/report/run/{outside}",
                "/report/run/..%2F..%2Foutside"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "secret report" not in response.text


def test_every_page_renders_on_an_empty_runs_folder(client):
    for url in ("/runs", "/new", "/new?kind=compare", "/new?kind=tune", "/try", "/check", "/jobs"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert 'src="/static/ui.js"' in response.text
    assert client.get("/", follow_redirects=False).headers["location"] == "/runs"
    assert client.get("/static/ui.css").status_code == 200
    assert client.get("/no/such/page").status_code == 404
    assert client.get("/jobs/nope").status_code == 404 and client.get("/api/jobs/nope").status_code == 404
