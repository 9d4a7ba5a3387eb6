"""Hyperparameter search on the tiny model: space checks, default trial, pruning, resume, outputs."""

from __future__ import annotations

import json

import pytest
import yaml

from tuneforge.config import build_config
from tuneforge.errors import ConfigError
from tuneforge.tuning.search import run_search
from tuneforge.tuning.space import config_values, default_space, resolve_space

optuna = pytest.importorskip("optuna")

SPACE = {
    "train.learning_rate": {"low": 1e-4, "high": 3e-3, "log": True},
    "train.batch_size": {"choices": [4, 8]},
}


def _cfg(tiny_config, **tune):
    return build_config({**tiny_config, "train": {**tiny_config["train"], "epochs": 1, "report_to": []},
                         "tune": {"space": SPACE, "n_startup_trials": 1, **tune}})


def test_space_keys_are_checked_before_training(tiny_config):
    cfg = build_config({**tiny_config, "tune": {"space": {"train.learnin_rate": {"low": 1e-5, "high": 1e-3}}}})
    with pytest.raises(ConfigError, match="train.learnin_rate"):
        resolve_space(cfg)
    cfg = build_config({**tiny_config, "tune": {"space": {"train.batch_size": {"choices": [8, -1]}}}})
    with pytest.raises(ConfigError, match="train.batch_size = -1"):
        resolve_space(cfg)
    with pytest.raises(ConfigError, match="give low and high"):
        build_config({**tiny_config, "tune": {"space": {"train.epochs": {"low": 1}}}})


def test_default_space_follows_the_method(tiny_config):
    lora = build_config({**tiny_config, "method": {"name": "lora"}})
    space = default_space(lora)
    assert "method.r" in space and "train.learning_rate" in space
    assert space["train.learning_rate"].low == pytest.approx(lora.train.learning_rate / 5)
    assert "method.r" not in default_space(build_config(tiny_config))
    assert config_values(lora, space)["method.r"] == lora.method.r


def test_search_runs_the_default_first_and_resumes(tiny_config, tmp_path):
    cfg = _cfg(tiny_config, n_startup_trials=4)  # trials 1 and 2 are both random draws
    first = run_search(cfg, trials=2)
    tune_dir = first.tune_dir
    assert tune_dir == tmp_path / "run"
    rows = json.loads((tune_dir / "trials.json").read_text())
    assert len(rows) == 2 and rows[0]["default"]
    assert rows[0]["train.learning_rate"] == pytest.approx(cfg.train.learning_rate)
    assert first.default_value == rows[0]["value"]
    assert first.best_value == max(r["value"] for r in rows if r["state"] == "complete")
    best = yaml.safe_load((tune_dir / "best_config.yaml").read_text())
    assert best["train"]["learning_rate"] == pytest.approx(first.best_params["train.learning_rate"])
    assert (tune_dir / "history.png").read_bytes()[:4] == b"\x89PNG"
    assert "| trial |" in (tune_dir / "trials.md").read_text()
    assert not list(tune_dir.glob("trials/*/bundle"))  # trials keep no model

    again = run_search(cfg, trials=3)  # the same study continues: one more trial, not three
    rows = json.loads((tune_dir / "trials.json").read_text())
    assert [r["trial"] for r in rows] == [0, 1, 2]
    assert rows[2]["train.learning_rate"] != rows[1]["train.learning_rate"]  # the seeded sampler does not replay
    assert again.default_value == first.default_value


def test_an_interrupted_trial_is_run_again(tiny_config):
    cfg = _cfg(tiny_config)
    run_search(cfg, trials=1)
    tune_dir = cfg.output.dir
    storage = optuna.storages.RDBStorage(f"sqlite:///{(tune_dir / 'study.db').resolve()}")
    study = optuna.load_study(study_name=cfg.name, storage=storage)
    killed = study.ask({"train.learning_rate": optuna.distributions.FloatDistribution(1e-4, 3e-3, log=True),
                        "train.batch_size": optuna.distributions.CategoricalDistribution([4, 8])})
    params = dict(killed.params)  # left RUNNING, as a killed process leaves it
    run_search(cfg, trials=2)
    rows = json.loads((tune_dir / "trials.json").read_text())
    states = {r["trial"]: r["state"] for r in rows}
    assert states[killed.number] == "fail"
    rerun = [r for r in rows if r["trial"] > killed.number]
    assert rerun and rerun[0]["train.learning_rate"] == pytest.approx(params["train.learning_rate"])
    assert rerun[0]["state"] == "complete"


def test_an_interrupted_repeat_of_a_finished_trial_is_not_run_again(tiny_config):
    cfg = _cfg(tiny_config)
    first = run_search(cfg, trials=1)
    storage = optuna.storages.RDBStorage(f"sqlite:///{(cfg.output.dir / 'study.db').resolve()}")
    study = optuna.load_study(study_name=cfg.name, storage=storage)
    done = study.trials[0].params
    study.enqueue_trial(done)
    repeat = study.ask()  # the repeat starts, draws its values, then the process dies
    repeat.suggest_float("train.learning_rate", 1e-4, 3e-3, log=True)
    repeat.suggest_categorical("train.batch_size", [4, 8])
    run_search(cfg, trials=2)
    rows = json.loads((cfg.output.dir / "trials.json").read_text())
    assert [r["state"] for r in rows] == ["complete", "fail", "complete"]
    assert rows[2]["train.learning_rate"] != pytest.approx(first.best_params["train.learning_rate"])


def test_a_changed_space_does_not_mix_into_an_old_study(tiny_config):
    run_search(_cfg(tiny_config), trials=1)
    changed = build_config({**tiny_config, "train": {**tiny_config["train"], "report_to": []},
                            "tune": {"space": {"train.learning_rate": {"low": 1e-5, "high": 1e-4}}}})
    with pytest.raises(ConfigError, match="different search space"):
        run_search(changed, trials=2)


def test_time_limit_counts_across_resumes(tiny_config):
    cfg = _cfg(tiny_config)
    run_search(cfg, trials=1)
    storage = optuna.storages.RDBStorage(f"sqlite:///{(cfg.output.dir / 'study.db').resolve()}")
    study = optuna.load_study(study_name=cfg.name, storage=storage)
    spent = study.user_attrs["elapsed_seconds"]
    assert spent > 0
    result = run_search(cfg, trials=5, timeout=spent / 2)  # the budget is already used up: no new trial
    assert len(result.trials) == 1


def test_tune_refuses_methods_without_a_training_loop(tiny_config):
    cfg = build_config({**tiny_config, "method": {"name": "zero_shot"}})
    with pytest.raises(ConfigError, match="no training loop"):
        run_search(cfg, trials=1)


def _args_state(step):
    from types import SimpleNamespace

    return (SimpleNamespace(per_device_train_batch_size=8, gradient_accumulation_steps=2),
            SimpleNamespace(global_step=step))


def test_pruning_callback_prunes_below_the_median_and_stops_at_the_deadline():
    import time

    from tuneforge.tuning.search import _pruning_callback

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=2))
    for good in (0.9, 0.8):
        trial = study.ask()
        trial.report(good, 160)
        study.tell(trial, good)
    reports = []
    args, state = _args_state(10)  # 10 steps x 8 x 2 = 160 examples seen
    above = study.ask()
    callback = _pruning_callback(above, "accuracy", time.monotonic() + 60, lambda: reports.append(1),
                                 warmup_evaluations=0)
    callback.on_evaluate(args, state, None, metrics={"eval_accuracy": 0.95})  # above the median: goes on
    assert above.storage.get_trial(above._trial_id).intermediate_values == {160: 0.95}
    below = study.ask()
    callback = _pruning_callback(below, "accuracy", time.monotonic() + 60, lambda: reports.append(1),
                                 warmup_evaluations=0)
    with pytest.raises(optuna.TrialPruned):
        callback.on_evaluate(args, state, None, metrics={"eval_accuracy": 0.1})
    warm = study.ask()
    callback = _pruning_callback(warm, "accuracy", time.monotonic() + 60, lambda: None, warmup_evaluations=1)
    callback.on_evaluate(args, state, None, metrics={"eval_accuracy": 0.1})  # first evaluation: never pruned
    assert len(reports) == 2

    late = study.ask()
    expired = _pruning_callback(late, "accuracy", time.monotonic() - 1, lambda: None)
    with pytest.raises(optuna.TrialPruned, match="time limit"):
        expired.on_step_end(args, state, None)
    assert late.user_attrs["stopped"] == "time limit"
