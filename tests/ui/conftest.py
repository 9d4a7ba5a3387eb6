"""The web interface in-process (FastAPI's TestClient) over a folder that holds the data, a copy of the tiny
model (paths the UI takes must lie inside the folder it started in or the runs folder) and a runs folder."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("jinja2")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from tuneforge.ui.app import create_app  # noqa: E402

KEY = "ui-test-key-0123456789abcdef"
LOCAL = "http://127.0.0.1:8765"


@pytest.fixture
def workdir(tmp_path, tiny_model_dir, sentiment_csv) -> Path:
    """``work/`` with ``reviews.csv``, ``tiny-bert/`` and an empty ``runs/``."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(sentiment_csv, work / "reviews.csv")
    shutil.copytree(tiny_model_dir, work / "tiny-bert")
    (work / "runs").mkdir()
    return work


def make_client(work: Path, **options) -> TestClient:
    """A TestClient on a fresh app over ``work/runs`` (Host 127.0.0.1, as a browser on loopback sends)."""
    app = create_app(work / "runs", cwd=work, **options)
    return TestClient(app, base_url=LOCAL)


@pytest.fixture
def client(workdir):
    """The UI without keys on loopback; jobs still running at the end are cancelled."""
    made = make_client(workdir)
    yield made
    made.app.state.ui.jobs.shutdown(grace=2)


def tiny_yaml(work: Path, name: str = "tiny", epochs: float = 1, **train) -> str:
    """A run config for the tiny model on the 24 reviews (a few seconds of training)."""
    config = {
        "name": name,
        "data": {"train": str(work / "reviews.csv"), "split": {"validation": 0.25, "test": 0.25, "seed": 0}},
        "model": {"name": str(work / "tiny-bert"), "max_length": 32},
        "train": {"epochs": epochs, "batch_size": 4, "learning_rate": 1e-3, "logging_steps": 2, "report_to": [],
                  **train},
    }
    return yaml.safe_dump(config, sort_keys=False)


def start(client: TestClient, text: str, name: str = "tiny", kind: str = "train", **fields) -> str:
    """Post the new-run form; return the job id it redirects to."""
    response = client.post("/new/start", data={"yaml": text, "name": name, "kind": kind, **fields},
                           follow_redirects=False)
    assert response.status_code == 303, response.text[-2000:]
    return response.headers["location"].rsplit("/", 1)[1]


def status(client: TestClient, job_id: str) -> dict:
    """The job's status JSON."""
    response = client.get(f"/api/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_job(client: TestClient, job_id: str, timeout: float = 120.0, until=None) -> dict:
    """Poll the job until it ends (or ``until(status)`` holds); fail with its log after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        current = status(client, job_id)
        if (until(current) if until else current["state"] != "running"):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {current['state']} after {timeout:g} s:\n{current['log']}")
        time.sleep(0.5)


def write_run(runs: Path, name: str, task: str = "classification", method: str = "lora", metrics: dict | None = None,
              marker: str | None = None, history: list | None = None) -> Path:
    """A run folder as training leaves it (config.yaml, train.log, metrics.json...), without training."""
    folder = runs / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({"name": name, "data": {"train": "x.csv"}, "task": {"type": task},
                                                         "method": {"name": method}, "model": {"name": "m"}}))
    (folder / "train.log").write_text("2026-11-30 05:00:00 INFO tuneforge: started\n")
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    if marker:
        (folder / marker).write_text("why\n")
    if history is not None:
        (folder / "log_history.json").write_text(json.dumps(history))
    return folder
