"""`tuneforge train --nproc 2`: data-parallel training (gloo on CPU) that matches one process with the
same global batch, writes one run folder from rank 0, and resumes after a process dies."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.errors import ConfigError
from tuneforge.training.distributed import (
    check_distributable,
    distributed_options,
    per_process_batch,
)

from ..conftest import NEGATIVE, POSITIVE, write_csv


def test_the_global_batch_is_split_evenly_or_refused(tiny_config):
    assert per_process_batch(32, 2) == 16 and per_process_batch(8, 1) == 8
    with pytest.raises(ConfigError, match="multiple of 3"):
        per_process_batch(32, 3)
    with pytest.raises(ConfigError, match="own"):
        check_distributable(build_config({**tiny_config, "method": {"name": "zero_shot"}}), 2)
    with pytest.raises(ConfigError, match="few-shot"):
        check_distributable(build_config({**tiny_config, "data": {**tiny_config["data"],
                                                                  "few_shot": {"per_class": 2}}}), 2)
    assert distributed_options() == {}  # one process: Trainer's own defaults


def test_nproc_needs_a_config_file(tiny_config):
    with pytest.raises(ConfigError, match="from a file"):
        api.train(build_config(tiny_config), nproc=2)


@pytest.fixture
def no_dropout_setup(tiny_model_dir, tmp_path):
    """The tiny model without dropout (so one and two processes can compute the same thing), 32 reviews
    in training (divisible by the global batch), and a config file."""
    import shutil

    model = tmp_path / "tiny-nodrop"
    shutil.copytree(tiny_model_dir, model)
    config = json.loads((model / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (model / "config.json").write_text(json.dumps(config))
    rows = [{"text": t, "label": "positive"} for t in POSITIVE] + [{"text": t, "label": "negative"} for t in NEGATIVE]
    train = write_csv(tmp_path / "train.csv", (rows * 3)[:32])
    validation = write_csv(tmp_path / "validation.csv", rows[::3])
    body = {"name": "ddp", "data": {"train": str(train), "validation": str(validation)},
            "model": {"name": str(model), "max_length": 32},
            "train": {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "logging_steps": 1,
                      "report_to": []}}
    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(body), encoding="utf-8")
    return path


def _cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "tuneforge", *map(str, args)], capture_output=True, text=True,
                          timeout=600, **kwargs)


def _losses(run: Path) -> list[float]:
    return [e["loss"] for e in json.loads((run / "log_history.json").read_text()) if "loss" in e]


def test_two_processes_train_like_one_with_the_same_global_batch(no_dropout_setup, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    api.train(no_dropout_setup, [f"output.dir={one}"])
    proc = _cli("train", no_dropout_setup, f"output.dir={two}", "--nproc", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    single, parallel = _losses(one), _losses(two)
    assert len(single) == len(parallel) == 8  # 32 examples / global batch 8 = 4 steps per epoch, in both
    assert parallel[:4] == pytest.approx(single[:4], rel=1e-4)  # the first epoch, step by step
    assert parallel == pytest.approx(single, rel=1e-2)
    metrics = [json.loads((run / "metrics.json").read_text()) for run in (one, two)]
    assert metrics[1]["accuracy"] == pytest.approx(metrics[0]["accuracy"], abs=1e-6)
    assert proc.stdout.count("run folder:") == 1  # the launcher reports; the processes do not
    assert (two / "bundle" / "tuneforge.json").is_file() and (two / "report.html").is_file()
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())  # no extra files
    assert "training in 2 processes" in proc.stderr
    config = yaml.safe_load((two / "config.yaml").read_text())
    assert config["train"]["batch_size"] == 8  # the global batch is what the run folder records


def _rank_one(launcher):
    import psutil

    for child in psutil.Process(launcher.pid).children(recursive=True):
        try:
            if child.environ().get("RANK") == "1" and "tuneforge" in " ".join(child.cmdline()):
                return child
        except psutil.Error:
            continue
    return None


def test_a_dead_process_ends_the_run_with_a_clear_error_and_resume_finishes_it(no_dropout_setup, tmp_path):
    run = tmp_path / "run"
    launcher = subprocess.Popen([sys.executable, "-m", "tuneforge", "train", str(no_dropout_setup), f"output.dir={run}",
                                 "train.epochs=60", "train.eval_steps=8", "train.logging_steps=8", "--nproc", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not list(run.glob("checkpoints/checkpoint-*/tuneforge-complete.json")):
        assert launcher.poll() is None and time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.5)
    victim = _rank_one(launcher)
    assert victim is not None
    victim.kill()
    _, stderr = launcher.communicate(timeout=240)
    assert launcher.returncode == 2, stderr[-3000:]
    assert f"tuneforge train --resume {run} --nproc 2" in stderr
    assert (run / "FAILED").is_file() and not (run / "bundle").exists()

    resumed = _cli("train", "--resume", run, "--nproc", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (run / "bundle" / "tuneforge.json").is_file() and not (run / "FAILED").exists()
    resumed_at = int(re.search(r"resuming from \S*checkpoint-(\d+)", (run / "train.log").read_text()).group(1))
    steps = [e["step"] for e in json.loads((run / "log_history.json").read_text()) if "loss" in e]
    assert steps == sorted(set(steps)) and steps[0] <= resumed_at < steps[-1]  # one history, before and after


def test_a_distributed_launch_needs_one_run_folder_for_all_processes(tiny_config, monkeypatch):
    from tuneforge.training.distributed import is_main_process, world

    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert world() == (1, 2) and not is_main_process()
    cfg = build_config({**tiny_config, "output": {"dir": None}})
    with pytest.raises(ConfigError, match="output.dir"):
        check_distributable(cfg, 2)
