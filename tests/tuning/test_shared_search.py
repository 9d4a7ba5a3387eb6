"""Several workers on one study (`tune --storage`, `--workers`): every trial run once, by one worker,
on SQLite, Optuna's journal file and a PostgreSQL server started here."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from tuneforge import api
from tuneforge.errors import ConfigError, TuneForgeError
from tuneforge.tuning.storage import (  # noqa: I001
    describe,
    normalise,
    open_storage,
    worker_id,
    worker_is_gone,
)

optuna = pytest.importorskip("optuna")

SPACE = {"train.learning_rate": {"low": 1e-4, "high": 3e-3, "log": True}}


def _config_file(tiny_config, tmp_path) -> Path:
    body = {**tiny_config, "train": {**tiny_config["train"], "epochs": 1, "report_to": []},
            "tune": {"space": SPACE, "n_startup_trials": 2}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def test_storage_urls_are_checked_and_passwords_hidden(tmp_path):
    assert normalise(None, tmp_path) == f"sqlite:///{(tmp_path / 'study.db').resolve()}"
    assert normalise(f"journal:{tmp_path}/s.journal", tmp_path) == f"journal:{tmp_path.resolve()}/s.journal"
    assert normalise("postgresql://u:pw@db:5432/tf", tmp_path) == "postgresql://u:pw@db:5432/tf"
    with pytest.raises(ConfigError, match="journal:PATH"):
        normalise("redis://cache:6379", tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        normalise(f"journal:{tmp_path}/missing/s.journal", tmp_path)
    assert describe("postgresql://u:secret@db:5432/tf") == "postgresql://u:***@db:5432/tf"
    with pytest.raises(TuneForgeError, match="cannot open the database") as caught:
        open_storage("postgresql://u:secret@127.0.0.1:1/tf")  # nothing listens on port 1
    assert "secret" not in str(caught.value)


def test_only_trials_of_workers_that_are_gone_count_as_interrupted():
    assert worker_is_gone(None) and worker_is_gone(worker_id())  # unrecorded, or this process restarting
    alive = subprocess.Popen(["sleep", "30"])
    try:
        assert not worker_is_gone(f"{socket.gethostname()}:{alive.pid}")
    finally:
        alive.kill()
        alive.wait()
    assert worker_is_gone(f"{socket.gethostname()}:{alive.pid}")
    assert not worker_is_gone(f"another-host.example:{alive.pid}")  # left to the heartbeat


def test_a_running_trial_of_a_live_worker_is_left_alone(tiny_config, tmp_path):
    from tuneforge.config import load_config
    from tuneforge.tuning.search import open_study

    cfg = load_config(_config_file(tiny_config, tmp_path))
    study, *_ = open_study(cfg)
    busy = study.ask()
    alive = subprocess.Popen(["sleep", "30"])
    try:
        study._storage.set_trial_user_attr(busy._trial_id, "worker", f"{socket.gethostname()}:{alive.pid}")
        study, *_ = open_study(cfg)  # a second worker joins
        assert study.trials[busy.number].state == optuna.trial.TrialState.RUNNING
    finally:
        alive.kill()
        alive.wait()
    study, *_ = open_study(cfg)  # the worker died: its trial is failed and queued again
    assert study.trials[busy.number].state == optuna.trial.TrialState.FAIL


def _check_shared(result, trials: int) -> None:
    rows = [r for r in result.trials if r["state"] in ("complete", "pruned")]
    assert len(rows) == trials
    assert len({r["trial"] for r in rows}) == trials
    rates = [r["train.learning_rate"] for r in rows]
    assert len(set(rates)) == trials, rates  # no values run twice
    assert sum(r["default"] for r in rows) == 1
    summary = json.loads((result.tune_dir / "summary.json").read_text())
    assert len(summary["workers"]) == 2, summary["workers"]  # both workers ran trials
    assert len(list((result.tune_dir / "workers").glob("worker-*.log"))) == 2


@pytest.mark.parametrize("kind", ["sqlite", "journal"])
def test_two_workers_share_one_study(tiny_config, tmp_path, kind):
    storage = None if kind == "sqlite" else f"journal:{tmp_path / 'study.journal'}"
    result = api.tune(_config_file(tiny_config, tmp_path), trials=2, storage=storage, workers=2)
    _check_shared(result, 2)  # each worker claims one at once: both must run one, neither a second
    assert result.storage.startswith("sqlite:" if kind == "sqlite" else "journal:")


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


@pytest.fixture
def postgres_url():
    """A PostgreSQL server from Debian's postgresql package, as the postgres user, on a free port."""
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql; make test installs it as root)")
    pytest.importorskip("psycopg", reason="psycopg is not installed (pip install 'tuneforge[distributed]')")
    as_user = [] if os.getuid() != 0 else ["runuser", "-u", "postgres", "--"]
    if as_user and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: PostgreSQL refuses to run as root")
    home = Path(tempfile.mkdtemp(prefix="tuneforge-pg-"))  # pytest's folders are private to this user
    if as_user:
        shutil.chown(home, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = home / "data"
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "tuneforge", "-A", "trust"],
                   check=True, capture_output=True, timeout=120)
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(home / "server.log"), "-w",
                    "-o", f"-p {port} -k {home} -c listen_addresses=127.0.0.1", "start"],
                   check=True, capture_output=True, timeout=120)
    try:
        subprocess.run([*as_user, str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "tuneforge",
                        "study"], check=True, capture_output=True, timeout=60)
        yield f"postgresql://tuneforge@127.0.0.1:{port}/study"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)


def test_two_workers_share_a_study_on_postgresql(tiny_config, tmp_path, postgres_url):
    result = api.tune(_config_file(tiny_config, tmp_path), trials=3, storage=postgres_url, workers=2)
    _check_shared(result, 3)
    assert result.storage == postgres_url
    assert not (result.tune_dir / "study.db").exists()
