"""tuneforge check / train --dry-run: the plan of a run, read from its data, with nothing trained or written."""

from __future__ import annotations

import subprocess
import sys

import yaml

from tuneforge import api
from tuneforge.config import build_config

from ..conftest import NEGATIVE, POSITIVE, write_csv


def sixty_rows(folder):
    rows = [{"review": f"{text} {i}", "sentiment": label} for i in range(3)
            for label, texts in (("positive", POSITIVE[:10]), ("negative", NEGATIVE[:10])) for text in texts]
    return write_csv(folder / "reviews.csv", rows)


def test_the_plan_of_a_small_run_shows_sizes_steps_and_every_warning(tiny_model_dir, tmp_path):
    config = {"data": {"train": str(sixty_rows(tmp_path)), "text_column": "review", "label_column": "sentiment"},
              "model": {"name": str(tiny_model_dir)}, "output": {"dir": str(tmp_path / "run")}}
    plan = api.check(build_config(config))
    assert plan.split_sizes == {"train": 48, "validation": 6, "test": 6}
    assert plan.label_counts["train"] == {"positive": 24, "negative": 24}
    assert (plan.steps_per_epoch, plan.total_steps, plan.evaluations) == (2, 6, 3)  # 48 / 32, 3 epochs
    text = "\n".join(plan.warnings)
    assert "only 6 optimizer steps" in text and "loss curve would have no points" in text
    assert "test split has only 6 examples" in text
    assert not (tmp_path / "run").exists()  # a plan writes nothing
    rendered = plan.render()
    assert "data: train 48, validation 6, test 6" in rendered and "2 steps per epoch, 6 steps in all" in rendered
    assert yaml.safe_load(rendered.split("\n\n")[0].removeprefix("resolved config:\n"))["train"]["batch_size"] == 32

    config["train"] = {"batch_size": 4, "epochs": 5, "logging_steps": 5}
    calm = api.check(build_config(config))
    assert calm.total_steps == 60 and not any("optimizer steps" in w or "loss curve" in w for w in calm.warnings)


def test_check_names_an_existing_run_folder(tiny_model_dir, tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text("name: earlier\n")
    config = {"data": {"train": str(sixty_rows(tmp_path)), "text_column": "review", "label_column": "sentiment"},
              "model": {"name": str(tiny_model_dir)}, "output": {"dir": str(tmp_path / "run")}}
    assert any("holds an earlier run" in w for w in api.check(build_config(config)).warnings)
    assert not any("holds an earlier run" in w for w in api.check(build_config(config), overwrite=True).warnings)


def test_train_dry_run_prints_the_plan_and_trains_nothing(tiny_model_dir, tmp_path):
    sixty_rows(tmp_path)
    path = tmp_path / "reviews.yaml"
    path.write_text(yaml.safe_dump({"data": {"train": "reviews.csv", "text_column": "review",
                                             "label_column": "sentiment"},
                                    "model": {"name": str(tiny_model_dir)}, "output": {"dir": str(tmp_path / "run")}}))
    for command in (["train", "--dry-run"], ["check"]):
        proc = subprocess.run([sys.executable, "-m", "tuneforge", *command, str(path), "train.epochs=2"],
                              capture_output=True, text=True, timeout=300, cwd=tmp_path.parent)
        assert proc.returncode == 0, proc.stderr
        assert "2 steps per epoch, 4 steps in all" in proc.stdout and "only 4 optimizer steps" in proc.stdout
        assert not (tmp_path / "run").exists()
