"""Hyperparameter search with Optuna: TPE sampling, median pruning inside Trainer, a resumable SQLite study.

One trial = one training run (no bundle) in ``<tune dir>/trials/trial-NNN``; its objective is the
best validation score Trainer saw. The study lives in ``<tune dir>/study.db``: running the same
command again continues it, counting the trials and the time already spent against ``--trials``
and ``--timeout``. The first trial is the config's own (hand-picked) values unless
``tune.include_default`` is off, so the search reports how far it moved from them.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import RunConfig, dump_config, with_values
from ..errors import ConfigError, TuneForgeError
from ..evaluation.report import markdown_table
from ..methods import METHODS
from ..tasks import get_task
from .space import config_values, resolve_space, suggest
from .storage import describe, normalise, open_storage, worker_id, worker_is_gone

log = logging.getLogger("tuneforge")


@dataclass
class TuneResult:
    """What a search produced: the folder, the best trial, and the default trial's score."""

    tune_dir: Path
    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    default_value: float | None
    metric: str
    trials: list[dict[str, Any]]
    best_config: Path
    storage: str = ""


def _optuna():
    try:
        import optuna
    except ImportError:
        raise TuneForgeError("tuneforge tune needs optuna: pip install 'tuneforge[hpo]'") from None
    return optuna


def tune_dir_for(cfg: RunConfig) -> Path:
    """``output.dir`` or ``runs/<config name>-tune`` (fixed, so a rerun finds the study)."""
    from ..outputs import tune_folder

    return tune_folder(cfg)


def _pruning_callback(trial, metric: str, deadline: float, on_report, warmup_evaluations: int = 1):
    """A Trainer callback: report each evaluation to the trial, prune below the median, stop at the deadline."""
    from transformers import TrainerCallback

    optuna = _optuna()

    class OptunaPruning(TrainerCallback):
        evaluations = 0

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            value = (metrics or {}).get(f"eval_{metric}")
            if value is None:
                return
            seen = state.global_step * args.per_device_train_batch_size * args.gradient_accumulation_steps
            trial.report(float(value), seen)
            on_report()
            self.evaluations += 1
            if self.evaluations > warmup_evaluations and trial.should_prune():
                raise optuna.TrialPruned(f"{metric} {value:.4f} after {seen} examples is below the median")

        def on_step_end(self, args, state, control, **kwargs):
            if time.monotonic() > deadline:
                trial.set_user_attr("stopped", "time limit")
                raise optuna.TrialPruned("the search's time limit was reached")

    return OptunaPruning()


def _recover_interrupted(study, storage) -> int:
    """Trials left RUNNING by a worker that is gone (killed on this host, or never recorded) are marked
    failed and their parameters queued again; other hosts' trials are left to the storage's heartbeat."""
    optuna = _optuna()
    trials = study.get_trials(deepcopy=False)
    known = [t.params for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    stale = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING
             and worker_is_gone(t.user_attrs.get("worker"))]
    for trial in stale:
        try:
            storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:  # another worker got there first
            continue
        if trial.params not in known:  # the same values with the same seed would give the same score
            study.enqueue_trial(trial.params, user_attrs={k: v for k, v in trial.user_attrs.items() if k != "worker"},
                                skip_if_exists=False)
    return len(stale)


def _finished(study) -> int:
    optuna = _optuna()
    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    return sum(1 for t in study.get_trials(deepcopy=False, states=done) if not t.user_attrs.get("surplus"))


def _taken(study, before: int | None = None) -> int:
    """Trials finished or running (numbered below ``before``): the share of ``--trials`` already claimed."""
    optuna = _optuna()
    claimed = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING)
    return sum(1 for t in study.get_trials(deepcopy=False, states=claimed)
               if (before is None or t.number < before) and not t.user_attrs.get("surplus"))


def open_study(cfg: RunConfig, storage: str | None = None, announce: bool = True):
    """Create or load the config's study in ``storage`` (checked against the search space), fail the
    trials of workers that are gone, and queue the config's own values as the first trial.

    Returns ``(study, storage URL, space, tune folder, metric)``."""
    optuna = _optuna()
    method = METHODS.get(cfg.method.name)()
    if not method.uses_trainer:
        raise ConfigError(f"tune searches methods trained by Trainer; {cfg.method.name!r} has no training loop to tune")
    task = get_task(cfg.task.type)
    metric = cfg.eval.metric or task.checkpoint_metric
    space = resolve_space(cfg)
    tune_dir = tune_dir_for(cfg)
    tune_dir.mkdir(parents=True, exist_ok=True)
    dump_config(cfg, tune_dir / "config.yaml")

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage_url = normalise(storage, tune_dir)
    storage = open_storage(storage_url)
    study = optuna.create_study(
        storage=storage, study_name=cfg.name, direction="maximize", load_if_exists=True,
        pruner=optuna.pruners.MedianPruner(n_startup_trials=cfg.tune.n_startup_trials,
                                           n_warmup_steps=0, interval_steps=1),
    )
    recorded = study.user_attrs.get("space")
    space_json = {k: v.model_dump(exclude_defaults=True) for k, v in space.items()}
    if recorded is not None and recorded != space_json:
        raise ConfigError(f"{describe(storage_url)} holds a study {cfg.name!r} over a different search space; "
                          f"remove it, or set output.dir or name to start a new one")
    study.set_user_attr("space", space_json)
    recovered = _recover_interrupted(study, storage)
    finished = _finished(study)
    spent = float(study.user_attrs.get("elapsed_seconds", 0.0))
    if announce and (finished or recovered):
        log.info("resuming the study %r in %s: %d trials finished, %d interrupted trial(s) queued again, %.0fs spent",
                 cfg.name, describe(storage_url), finished, recovered, spent)
    if cfg.tune.include_default and not study.get_trials(deepcopy=False):
        study.enqueue_trial(config_values(cfg, space), user_attrs={"default": True}, skip_if_exists=True)

    return study, storage_url, space, tune_dir, metric


def write_results(cfg: RunConfig, storage: str | None = None) -> TuneResult:
    """The result files of the config's study in ``storage``, as it stands (after several workers)."""
    study, storage_url, space, tune_dir, metric = open_study(cfg, storage, announce=False)
    return _write_results(cfg, study, space, tune_dir, metric, describe(storage_url))


def run_search(cfg: RunConfig, trials: int, timeout: float | None = None, console=None,
               storage: str | None = None) -> TuneResult:
    """Search ``cfg.tune.space`` for ``trials`` trials or ``timeout`` seconds in all, whichever ends first.

    ``storage`` is an Optuna storage URL (see ``tuning.storage``; default the search folder's SQLite
    file). Several processes given the same storage and config name share the study: together they run
    ``trials`` trials, each trial once, each process with its own sampler seed per trial number.

    Example:
        >>> result = run_search(load_config("configs/sst2_tune.yaml"), trials=12, timeout=2400)
        >>> result.best_value >= result.default_value
        True
    """
    optuna = _optuna()
    study, storage_url, space, tune_dir, metric = open_study(cfg, storage)
    finished = _finished(study)
    spent = float(study.user_attrs.get("elapsed_seconds", 0.0))
    remaining_trials = max(0, trials - finished)
    remaining_time = None if timeout is None else max(0.0, timeout - spent)
    session_start = time.monotonic()
    deadline = float("inf") if remaining_time is None else session_start + remaining_time

    def record_time() -> None:  # several workers: the longest of their clocks
        elapsed = spent + time.monotonic() - session_start
        study.set_user_attr("elapsed_seconds", max(elapsed, float(study.user_attrs.get("elapsed_seconds", 0.0))))

    def objective(trial) -> float:
        from ..training.run import train_run

        trial.set_user_attr("worker", worker_id())
        if _taken(study, before=trial.number) >= trials:
            trial.set_user_attr("surplus", True)  # claimed after the others took the last one: ends unrun
            raise optuna.TrialPruned(f"the other workers already claimed {trials} trials")
        # Seeded by trial number: resumed searches and parallel workers each draw their own values.
        study.sampler = _sampler(cfg, seed=cfg.tune.seed + trial.number)
        values = suggest(trial, space)
        trial_cfg = with_values(cfg, {**values, "output.dir": str(tune_dir / "trials" / f"trial-{trial.number:03d}"),
                                      "output.keep_checkpoints": False, "train.resume": False})
        if cfg.tune.eval_every_samples:
            per_step = trial_cfg.train.batch_size * trial_cfg.train.gradient_accumulation_steps
            trial_cfg = with_values(trial_cfg, {"train.eval_steps": max(1, cfg.tune.eval_every_samples // per_step)})
        log.info("trial %d: %s", trial.number, ", ".join(f"{k}={_short(v)}" for k, v in values.items()))
        try:
            result = train_run(trial_cfg, callbacks=[_pruning_callback(trial, metric, deadline, record_time,
                                                                    cfg.tune.n_warmup_evaluations)],
                               save_model=False)
        finally:
            record_time()
        value = result.best_validation
        if value is None:
            value = float(result.metrics.get(metric, 0.0))
        trial.set_user_attr("train_seconds", round(result.train_seconds, 1))
        trial.set_user_attr(f"{result.eval_split}_{metric}", float(result.metrics.get(metric, 0.0)))
        return float(value)

    if remaining_trials and (remaining_time is None or remaining_time > 0):
        study.sampler = _sampler(cfg, seed=cfg.tune.seed)
        while _taken(study) < trials and time.monotonic() < deadline:  # one at a time: others share the count
            study.optimize(objective, n_trials=1, timeout=max(1.0, deadline - time.monotonic())
                           if remaining_time is not None else None, callbacks=[_log_trial])
    else:
        log.info("the study already has %d finished trials (asked %d) or no time left; writing results", finished, trials)
    return _write_results(cfg, study, space, tune_dir, metric, describe(storage_url))


def _sampler(cfg: RunConfig, seed: int):
    """TPE that assumes running trials score badly (``constant_liar``), so parallel workers spread out."""
    return _optuna().samplers.TPESampler(seed=seed, n_startup_trials=cfg.tune.n_startup_trials, constant_liar=True)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _log_trial(study, trial) -> None:
    if trial.user_attrs.get("surplus"):
        log.info("trial %d not run: the study already has its trials", trial.number)
        return
    state = trial.state.name.lower()
    value = "" if trial.value is None else f" {trial.value:.4f}"
    reason = f" ({trial.user_attrs['stopped']})" if "stopped" in trial.user_attrs else ""
    try:
        best = f"; best so far {study.best_value:.4f} (trial {study.best_trial.number})"
    except ValueError:
        best = ""
    log.info("trial %d %s%s%s%s", trial.number, state, value, reason, best)


def _trial_rows(study, space) -> list[dict[str, Any]]:
    rows = []
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("surplus"):
            continue
        duration = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete and t.datetime_start else None
        last = max(t.intermediate_values) if t.intermediate_values else None
        rows.append({
            "trial": t.number, "state": t.state.name.lower(), "value": t.value,
            "default": bool(t.user_attrs.get("default")), "stopped": t.user_attrs.get("stopped"),
            "last_report": None if last is None else t.intermediate_values[last],
            "examples_seen": last, "seconds": None if duration is None else round(duration, 1),
            "worker": t.user_attrs.get("worker"),
            **{k: t.params.get(k) for k in space},
        })
    return rows


def _write_results(cfg, study, space, tune_dir: Path, metric: str, storage: str) -> TuneResult:
    rows = _trial_rows(study, space)
    complete = [r for r in rows if r["state"] == "complete"]
    if not complete:
        raise TuneForgeError(f"no trial completed in {tune_dir}; give more time (--timeout) or check {tune_dir}/trials")
    best = max(complete, key=lambda r: r["value"])
    default = next((r for r in complete if r["default"]), None)
    best_params = {k: best[k] for k in space}
    best_cfg = with_values(cfg, {**best_params, "output.dir": None})
    dump_config(best_cfg, tune_dir / "best_config.yaml")
    (tune_dir / "trials.json").write_text(json.dumps(rows, indent=1, default=str), encoding="utf-8")
    (tune_dir / "trials.md").write_text(_trials_markdown(rows, space, metric), encoding="utf-8")
    plots = _plots(study, tune_dir)
    summary = {
        "metric": metric, "best_trial": best["trial"], "best_value": best["value"], "best_params": best_params,
        "default_value": None if default is None else default["value"],
        "trials": {state: sum(1 for r in rows if r["state"] == state) for state in {r["state"] for r in rows}},
        "elapsed_seconds": round(float(study.user_attrs.get("elapsed_seconds", 0.0)), 1), "plots": plots,
        "storage": storage, "workers": sorted({r["worker"] for r in rows if r["worker"]}),
    }
    (tune_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    return TuneResult(tune_dir, best_params, best["value"], best["trial"], summary["default_value"], metric, rows,
                      tune_dir / "best_config.yaml", storage)


def _trials_markdown(rows, space, metric: str) -> str:
    keys = list(space)
    header = ["trial", "state", f"validation {metric}", *keys, "examples seen", "seconds"]
    table = []
    for r in rows:
        value = "" if r["value"] is None else f"{r['value']:.4f}"
        if r["state"] != "complete" and r["last_report"] is not None:
            value = f"({r['last_report']:.4f})"
        state = f"{r['state']} ({r['stopped']})" if r.get("stopped") else r["state"]
        cells = [f"{r['trial']}{' (default)' if r['default'] else ''}", state, value,
                 *[_short(r[k]) for k in keys], r["examples_seen"] or "", r["seconds"] or ""]
        table.append([str(c) for c in cells])
    return (markdown_table(header, table)
            + "\n\nPruned and failed trials show their last validation score in brackets.\n")


def _plots(study, tune_dir: Path) -> list[str]:
    """Optimisation history, intermediate values and parameter importances as PNG files."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    written = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, draw in (("history", ovm.plot_optimization_history),
                           ("intermediate", ovm.plot_intermediate_values),
                           ("importances", ovm.plot_param_importances)):
            try:
                axes = draw(study)
            except (ValueError, RuntimeError, ZeroDivisionError) as exc:
                log.info("tune: no %s plot (%s)", name, exc)
                continue
            figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
            figure.set_size_inches(8, 5)
            figure.tight_layout()
            path = tune_dir / f"{name}.png"
            figure.savefig(path, dpi=100)
            plt.close(figure)
            written.append(path.name)
    return written
