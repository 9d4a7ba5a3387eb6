"""Runs started from the UI are ordinary ``tuneforge`` processes: two at once both finish, the config they
write is the CLI's, cancel stops the process and marks the folder, failures say why, the bundle can be
tried, and comparisons, searches and data checks run the same way.

Every process starts at once in one module fixture (the tests then read what each left), so the whole
file costs about as much wall time as its slowest job.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tuneforge.methods import METHODS, MethodOptions
from tuneforge.ui.runs_index import scan_runs

from ..conftest import NEGATIVE, POSITIVE, write_csv
from .conftest import make_client, start, tiny_yaml, wait_job


def _plain_methods(count: int) -> list[str]:
    """Built-in methods that train through Trainer with no options of their own (quick on the tiny model)."""
    names = [n for n in METHODS.names() if METHODS.get(n).__module__.startswith("tuneforge.")
             and METHODS.get(n).uses_trainer and set(METHODS.get(n).Options.model_fields) == set(MethodOptions.model_fields)]
    return names[:count]


@dataclass
class Batch:
    client: object
    work: Path
    done: dict  # job name -> final status JSON
    long_running: dict  # the long run's status once it showed progress
    long_pid: int
    cancel_answer: object
    cli: subprocess.CompletedProcess

    def run_folder(self, name: str) -> Path:
        return self.work / "runs" / self.done[name]["links"]["run"].removeprefix("/runs/")


@pytest.fixture(scope="module")
def batch(tmp_path_factory, tiny_model_dir):
    """Two runs, a run that fails, a long run (cancelled once it shows progress), a comparison, a search
    and a data check, all started from the UI at once, and ``tuneforge train`` on the same YAML beside them
    (stopped once it has written its config.yaml, the one thing compared)."""
    work = tmp_path_factory.mktemp("ui-jobs")
    write_csv(work / "reviews.csv", [{"text": t, "label": "positive"} for t in POSITIVE]
              + [{"text": t, "label": "negative"} for t in NEGATIVE])
    shutil.copytree(tiny_model_dir, work / "tiny-bert")
    client = make_client(work, max_jobs=8)
    text = tiny_yaml(work, name="same")
    (work / "cli").mkdir()
    (work / "cli" / "same.yaml").write_text(text, encoding="utf-8")
    jobs = {"first": start(client, text, "same"), "second": start(client, text, "same")}
    cli = subprocess.Popen([sys.executable, "-m", "tuneforge", "train", str(work / "cli" / "same.yaml"),
                            f"output.dir={work / 'cli-run'}"], cwd=work, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    jobs["long"] = start(client, tiny_yaml(work, name="long", epochs=400, early_stopping_patience=None), "long")
    missing = tiny_yaml(work, name="missing").replace(str(work / "reviews.csv"), str(work / "gone.csv"))
    jobs["failed"] = start(client, missing, "missing")
    jobs["compare"] = start(client, tiny_yaml(work, name="cmp"), "cmp", kind="compare", methods=_plain_methods(2),
                            budget="300")
    jobs["tune"] = start(client, tiny_yaml(work, name="search"), "search", kind="tune", trials="2")
    checked = client.post("/check", data={"data": "reviews.csv"}, follow_redirects=False)
    assert checked.status_code == 303, checked.text[-1000:]
    jobs["check"] = checked.headers["location"].rsplit("/", 1)[1]
    try:
        long_running = wait_job(client, jobs["long"], timeout=240,
                                until=lambda s: s["step"] or s["state"] != "running")
        long_pid = client.app.state.ui.jobs.get(jobs["long"]).pid
        cancel_answer = client.post(f"/jobs/{jobs['long']}/cancel", headers={"Accept": "application/json"})
        # the CLI's run has written its config.yaml once it starts preparing the data: that is all it is for
        deadline = time.monotonic() + 240
        while not (work / "cli-run" / "config.yaml").is_file() and cli.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        written = (work / "cli-run" / "config.yaml").is_file()
        cli.kill()
        output, _ = cli.communicate(timeout=60)
        done = {name: wait_job(client, job_id, timeout=300) for name, job_id in jobs.items()}
        yield Batch(client, work, done, long_running, long_pid, cancel_answer,
                    subprocess.CompletedProcess(cli.args, 0 if written else cli.returncode, output))
    finally:
        cli.kill()
        client.app.state.ui.jobs.shutdown(grace=2)


def test_two_runs_started_at_once_both_finish(batch):
    done = [batch.done["first"], batch.done["second"]]
    assert [d["state"] for d in done] == ["finished", "finished"], [d["log"][-2000:] for d in done]
    jobs = [batch.client.app.state.ui.jobs.get(d["id"]) for d in done]
    assert jobs[1].started < jobs[0].ended and jobs[0].started < jobs[1].ended  # they ran at the same time
    folders = [batch.run_folder("first"), batch.run_folder("second")]
    assert folders[0] != folders[1]
    for folder in folders:
        assert (folder / "bundle" / "tuneforge.json").is_file() and (folder / "report.html").is_file()
        # the UI's own files (the YAML it ran, the console) stay out of the run folder
        assert sorted(p.name for p in folder.iterdir() if p.suffix in (".yaml", ".log")) == ["config.yaml", "train.log"]
    statuses = {r.path.resolve(): r.status for r in scan_runs(batch.work / "runs")}
    assert [statuses[f.resolve()] for f in folders] == ["finished", "finished"]
    assert all(d["total"] and d["step"] == d["total"] for d in done)  # the progress bar reached its end


def test_the_ui_and_the_cli_write_the_same_config(batch):
    assert batch.cli.returncode == 0, batch.cli.stdout[-2000:]
    from_cli = yaml.safe_load((batch.work / "cli-run" / "config.yaml").read_text())
    cli_dir = from_cli["output"].pop("dir")
    for name in ("first", "second"):
        from_ui = yaml.safe_load((batch.run_folder(name) / "config.yaml").read_text())
        assert from_ui["output"].pop("dir") != cli_dir
        assert from_ui == from_cli


def test_the_finished_run_can_be_opened_and_tried(batch):
    client, run = batch.client, batch.done["first"]["links"]["run"].removeprefix("/runs/")
    page = client.get(f"/runs/{run}")
    assert page.status_code == 200 and f'src="/report/run/{run}"' in page.text
    assert "<html" in client.get(f"/report/run/{run}").text.lower()
    assert batch.done["first"]["links"]["try"] == f"/try?run={run.replace('/', '%2F')}"
    tried = client.post("/try", data={"run": run, "text": "a great movie , i love this film", "explain": "on"})
    assert tried.status_code == 200, tried.text[-1500:]
    label = tried.text.split('id="predicted-label">', 1)[1].split("<", 1)[0]
    assert label in ("positive", "negative")
    assert 'id="scores"' in tried.text and 'id="explanation"' in tried.text
    empty = client.post("/try", data={"run": run, "text": "   "})
    assert empty.status_code == 422 and "type a text" in empty.text


def test_cancel_stops_the_process_and_marks_the_run(batch):
    running = batch.long_running
    assert running["state"] == "running" and running["total"] > running["step"] >= 1  # live progress
    assert batch.cancel_answer.status_code == 200 and batch.cancel_answer.json()["state"] == "cancelled"
    with pytest.raises(ProcessLookupError):
        os.kill(batch.long_pid, 0)
    folder = batch.run_folder("long")
    assert (folder / "CANCELLED").is_file()
    assert {r.path.resolve(): r.status for r in scan_runs(batch.work / "runs")}[folder.resolve()] == "cancelled"
    assert batch.done["long"]["state"] == "cancelled"
    assert batch.client.post(f"/jobs/{batch.done['long']['id']}/cancel").status_code == 409  # not running now


def test_a_failed_run_says_why(batch):
    failed = batch.done["failed"]
    assert failed["state"] == "failed"
    assert "gone.csv" in failed["error"]
    assert "gone.csv" in batch.client.get(f"/jobs/{failed['id']}").text


def test_compare_and_tune_report_what_arrives(batch):
    compared, tuned = batch.done["compare"], batch.done["tune"]
    assert compared["state"] == "finished", compared["log"][-2000:]
    assert sorted(r["method"] for r in compared["rows"]) == sorted(_plain_methods(2))
    assert all(isinstance(r["score"], float) for r in compared["rows"])
    assert tuned["state"] == "finished", tuned["log"][-2000:]
    assert len(tuned["rows"]) == 2 and [t["trial"] for t in tuned["trials"]] == [0, 1]
    page = batch.client.get(compared["links"]["search"])
    assert page.status_code == 200 and all(m in page.text for m in _plain_methods(2))
    assert 'src="/report/search/' in page.text


def test_the_data_check_runs_and_shows_its_report(batch):
    checked = batch.done["check"]
    assert checked["state"] == "finished", checked["log"][-2000:]
    report = batch.client.get(checked["links"]["report"])
    assert report.status_code == 200 and "<html" in report.text.lower()
    assert f'src="/report/check/{checked["id"]}"' in batch.client.get(f"/jobs/{checked['id']}").text
    assert batch.client.post("/check", data={"data": "../../etc/passwd"}).status_code == 422
