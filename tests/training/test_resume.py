"""An interrupted run continues from its last checkpoint."""

from __future__ import annotations

import json
import shutil

import pytest

from tuneforge import api
from tuneforge.config import build_config
from tuneforge.errors import ConfigError
from tuneforge.training.checkpoints import MARKER


def losses_by_step(run_dir) -> dict[int, dict]:
    """Training-loss log entries of a run, by step (one entry per step, or the test fails)."""
    history = json.loads((run_dir / "log_history.json").read_text())
    entries = [entry for entry in history if "loss" in entry]
    by_step = {entry["step"]: entry for entry in entries}
    assert len(by_step) == len(entries), "a step was logged twice"
    return by_step


def test_resume_continues_from_last_checkpoint(tiny_config):
    tiny_config["train"].update(max_steps=4, eval_steps=2, logging_steps=1, early_stopping_patience=None)
    tiny_config["output"]["keep_checkpoints"] = True
    first = api.train(build_config(tiny_config))
    checkpoints = sorted(p.name for p in (first.run_dir / "checkpoints").iterdir())
    assert "checkpoint-4" in checkpoints
    assert (first.run_dir / "checkpoints" / "checkpoint-4" / MARKER).is_file()
    first_losses = losses_by_step(first.run_dir)
    assert sorted(first_losses) == [1, 2, 3, 4]
    resumed = api.train(None, ["train.max_steps=6"], resume=first.run_dir)
    resumed_losses = losses_by_step(resumed.run_dir)
    assert sorted(resumed_losses) == [1, 2, 3, 4, 5, 6]  # each step logged once
    # Steps 1-4 come back from the checkpoint's state; retrained over a 6-step schedule their
    # learning rates (and losses) would differ.
    assert {step: resumed_losses[step] for step in range(1, 5)} == first_losses
    assert resumed.bundle_dir.is_dir()


def test_resume_from_the_last_checkpoint_mid_epoch_trains_no_step_more(tiny_config):
    """Killed after its checkpoint at ``max_steps`` (mid-epoch), before its bundle: the resume trains nothing."""
    tiny_config["train"].update(max_steps=4, eval_steps=2, logging_steps=1, early_stopping_patience=None)
    tiny_config["output"]["keep_checkpoints"] = True
    first = api.train(build_config(tiny_config))
    first_losses = losses_by_step(first.run_dir)
    assert first_losses[4]["epoch"] % 1, "step 4 should end mid-epoch, or this test tests nothing"
    shutil.rmtree(first.bundle_dir)
    first_loss = json.loads((first.run_dir / "log_history.json").read_text())[-1]["train_loss"]
    (first.run_dir / "metrics.json").unlink()
    resumed = api.train(None, resume=first.run_dir)
    assert losses_by_step(resumed.run_dir) == first_losses
    assert resumed.bundle_dir.is_dir()
    train = json.loads((resumed.run_dir / "metrics.json").read_text())["train"]
    # the whole run's mean loss (Trainer's own figure for a call that trained nothing would be 0.0)
    assert train["train_loss"] == pytest.approx(first_loss)
    assert "train_samples_per_second" not in train


def test_resume_of_a_finished_run_returns_it(tiny_config):
    first = api.train(build_config(tiny_config))  # checkpoints are removed after a finished run
    again = api.train(None, resume=first.run_dir)
    assert again.bundle_dir == first.bundle_dir and again.metrics["accuracy"] == first.metrics["accuracy"]
    assert again.predictor.predict_texts(["fun"]) == first.predictor.predict_texts(["fun"])


def test_resume_skips_an_incomplete_checkpoint(tiny_config, caplog):
    tiny_config["train"].update(max_steps=4, eval_steps=2, logging_steps=1, early_stopping_patience=None)
    tiny_config["output"]["keep_checkpoints"] = True
    first = api.train(build_config(tiny_config))
    checkpoints = first.run_dir / "checkpoints"
    # as if killed while Trainer wrote checkpoint-6: some files there, no completion marker
    partial = checkpoints / "checkpoint-6"
    partial.mkdir()
    (partial / "model.safetensors").write_bytes(b"half a file")
    # and as if killed while Trainer deleted checkpoint-4: the marker survives, a file does not
    (checkpoints / "checkpoint-4" / "optimizer.pt").unlink()
    resumed = api.train(None, ["train.max_steps=6"], resume=first.run_dir)
    assert "checkpoint-6 is incomplete" in caplog.text and "checkpoint-4 is incomplete" in caplog.text
    assert "resuming from" in caplog.text and "checkpoint-2" in caplog.text
    assert sorted(losses_by_step(resumed.run_dir)) == [1, 2, 3, 4, 5, 6]
    assert resumed.bundle_dir.is_dir()


def test_resume_needs_a_run_folder(tmp_path):
    with pytest.raises(ConfigError, match="not a run folder"):
        api.train(None, resume=tmp_path)


def test_a_resume_removes_what_a_killed_run_left(tiny_config):
    """Killed while deleting its checkpoints at the end, or in an atomic write: the folder renamed aside
    and the temporary file would stay on disk forever (the kill -9 test found it)."""
    first = api.train(build_config(tiny_config))
    aside = first.run_dir / ".checkpoints.removing-999999"
    (aside / "checkpoint-3").mkdir(parents=True)
    (aside / "checkpoint-3" / "optimizer.pt").write_bytes(b"x" * 1000)
    (first.run_dir / ".config.yaml.tmp-999999").write_text("half")
    api.train(None, resume=first.run_dir)
    assert not aside.exists() and not (first.run_dir / ".config.yaml.tmp-999999").exists()
