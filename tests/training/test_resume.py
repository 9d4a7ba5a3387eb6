"""An interrupted run continues from its last checkpoint."""

from __future__ import annotations

import json

import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.errors import ConfigError


def test_resume_continues_from_last_checkpoint(tiny_config):
    tiny_config["train"].update(max_steps=4, eval_steps=2, logging_steps=1, early_stopping_patience=None)
    tiny_config["output"]["keep_checkpoints"] = True
    first = api.train(build_config(tiny_config))
    checkpoints = sorted(p.name for p in (first.run_dir / "checkpoints").iterdir())
    assert "checkpoint-4" in checkpoints
    resumed = api.train(None, ["train.max_steps=6"], resume=first.run_dir)
    history = json.loads((resumed.run_dir / "log_history.json").read_text())
    steps = [entry["step"] for entry in history if "loss" in entry]
    assert steps and min(steps) == 5 and max(steps) == 6  # nothing before step 5 was trained again
    assert resumed.bundle_dir.is_dir()


def test_resume_without_checkpoint_fails_clearly(tiny_config):
    first = api.train(build_config(tiny_config))  # checkpoints are removed after a finished run
    with pytest.raises(ConfigError, match="holds no checkpoint to resume from"):
        api.train(None, resume=first.run_dir)


def test_resume_needs_a_run_folder(tmp_path):
    with pytest.raises(ConfigError, match="not a run folder"):
        api.train(None, resume=tmp_path)
